import { useEffect, useState } from 'preact/hooks';

let show: (msg: string) => void = () => {};

/** Shows an error for a few seconds (role=alert: read out by screen readers). */
export function toastError(e: unknown): void {
  show(e instanceof Error ? e.message : String(e));
}

export function Toast() {
  const [msg, setMsg] = useState('');
  useEffect(() => {
    let t: ReturnType<typeof setTimeout> | undefined;
    show = (m) => { setMsg(m); clearTimeout(t); t = setTimeout(() => setMsg(''), 6000); };
    return () => clearTimeout(t);
  }, []);
  return msg ? <div class="toast" role="alert">{msg}</div> : null;
}
