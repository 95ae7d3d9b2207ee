import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { hub, LiveState } from './api';
import { Containers } from './views/Containers';
import { ContainerPage } from './views/Container';
import { Images } from './views/Images';
import { Volumes } from './views/Volumes';
import { Networks } from './views/Networks';
import { Events } from './views/Events';
import { Disk } from './views/Disk';
import { Builds } from './views/Builds';
import { Toast } from './toast';
import './style.css';

const TABS = [
  ['containers', 'Containers'], ['images', 'Images'], ['volumes', 'Volumes'], ['networks', 'Networks'], ['builds', 'Builds'], ['disk', 'Disk usage'], ['events', 'Events'],
] as const;

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const f = () => setHash(location.hash);
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  return hash;
}

function useLive(): LiveState {
  const [s, setS] = useState<LiveState>(hub.state);
  useEffect(() => {
    const off = hub.onState(setS);
    setS(hub.state); // it may have changed between the first render and this subscription
    return off;
  }, []);
  return s;
}

type Theme = 'auto' | 'light' | 'dark';
const THEMES: Theme[] = ['auto', 'light', 'dark'];

function applyTheme(t: Theme): void {
  if (t === 'auto') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
}

function readTheme(): Theme {
  try { const t = localStorage.getItem('dray-theme') as Theme; return THEMES.includes(t) ? t : 'auto'; } catch { return 'auto'; }
}

/** Cycles the system's theme, light and dark; kept in this browser. */
function ThemeButton() {
  const [theme, setTheme] = useState<Theme>(readTheme);
  useEffect(() => {
    applyTheme(theme);
    try { localStorage.setItem('dray-theme', theme); } catch { /* private mode */ }
  }, [theme]);
  const next = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
  return <button class="theme" onClick={() => setTheme(next)} aria-label={`Theme: ${theme}; switch to ${next}`}>{theme === 'auto' ? '◐' : theme === 'light' ? '☀' : '☾'} {theme}</button>;
}

function App() {
  const hash = useHash();
  const live = useLive();
  const [, view = 'containers', arg] = /^#\/([a-z]+)(?:\/(.+))?/.exec(hash) ?? [];
  const tab = view === 'container' ? 'containers' : view;
  useEffect(() => { document.title = `Dray · ${TABS.find(([k]) => k === tab)?.[1] ?? 'Dashboard'}`; }, [tab]);
  let page;
  switch (view) {
    case 'container': page = <ContainerPage id={decodeURIComponent(arg ?? '')} />; break;
    case 'images': page = <Images />; break;
    case 'volumes': page = <Volumes />; break;
    case 'networks': page = <Networks />; break;
    case 'events': page = <Events />; break;
    case 'disk': page = <Disk />; break;
    case 'builds': page = <Builds />; break;
    default: page = <Containers />;
  }
  return (
    <>
      <header class="top">
        <span class="brand">Dray</span>
        <nav class="tabs" aria-label="Views">
          {TABS.map(([k, label]) => <a key={k} href={`#/${k}`} aria-current={tab === k ? 'page' : undefined}>{label}</a>)}
        </nav>
        <span class="live" role="status" aria-live="polite" data-live={live}>
          <span class={`dot ${live}`} aria-hidden="true" />
          {live === 'live' ? 'Live' : live === 'connecting' ? 'Connecting…' : 'Disconnected'}
        </span>
        <ThemeButton />
      </header>
      <main>{page}</main>
      <Toast />
    </>
  );
}

hub.start();
render(<App />, document.getElementById('app')!);
