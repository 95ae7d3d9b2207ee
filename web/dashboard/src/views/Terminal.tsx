import { useEffect, useRef, useState } from 'preact/hooks';

const csrf = document.querySelector<HTMLMetaElement>('meta[name="dray-csrf"]')?.content ?? '';

/**
 * A shell in the container (xterm.js over the dashboard's /api/terminal WebSocket). xterm.js is
 * loaded only when a terminal is opened: the rest of the page never pays for it.
 */
function TerminalSession({ id, onEnd }: { id: string; onEnd: () => void }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let disposed = false;
    let cleanup = () => {};
    void (async () => {
      const [{ Terminal }, { FitAddon }] = await Promise.all([import('@xterm/xterm'), import('@xterm/addon-fit'), import('@xterm/xterm/css/xterm.css')]);
      if (disposed || !box.current) return;
      const dark = matchMedia('(prefers-color-scheme: dark)').matches;
      const term = new Terminal({ fontSize: 13, cursorBlink: true, convertEol: false, theme: dark ? undefined : { background: '#0d1117' } });
      const fit = new FitAddon();
      term.loadAddon(fit);
      term.open(box.current);
      fit.fit();
      // xterm.js does not draw while out of view: bring it where the user looks.
      box.current.scrollIntoView({ block: 'nearest' });
      const enc = new TextEncoder();
      const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/terminal/${encodeURIComponent(id)}?cols=${term.cols}&rows=${term.rows}&csrf=${encodeURIComponent(csrf)}`);
      ws.binaryType = 'arraybuffer';
      const send = (kind: number, data: Uint8Array) => {
        if (ws.readyState !== WebSocket.OPEN) return;
        const b = new Uint8Array(data.length + 1);
        b[0] = kind;
        b.set(data, 1);
        ws.send(b);
      };
      ws.onmessage = (m) => term.write(new Uint8Array(m.data as ArrayBuffer));
      ws.onclose = () => { term.write('\r\n[disconnected]\r\n'); };
      const input = term.onData((d) => send(0, enc.encode(d)));
      const resized = term.onResize(({ cols, rows }) => send(1, enc.encode(JSON.stringify({ cols, rows }))));
      const onWin = () => fit.fit();
      addEventListener('resize', onWin);
      term.focus();
      cleanup = () => { removeEventListener('resize', onWin); input.dispose(); resized.dispose(); ws.close(); term.dispose(); };
    })();
    return () => { disposed = true; cleanup(); };
  }, [id]);
  return (
    <>
      <div class="toolbar"><button onClick={onEnd} aria-label="Close the terminal">Close terminal</button></div>
      <div class="terminal" ref={box} aria-label="Terminal" />
    </>
  );
}

export function TerminalPanel({ id, running }: { id: string; running: boolean }) {
  const [open, setOpen] = useState(false);
  useEffect(() => { if (!running) setOpen(false); }, [running]);
  return (
    <section aria-label="Terminal">
      <h2>Terminal</h2>
      {open ? <TerminalSession id={id} onEnd={() => setOpen(false)} />
        : <button disabled={!running} onClick={() => setOpen(true)} aria-label="Open a shell in the container">Open shell (sh)</button>}
    </section>
  );
}
