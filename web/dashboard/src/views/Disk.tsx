// Disk usage (`docker system df`) and what each prune would free, worked out from the same
// answer by the rules of each prune:
//   containers   every stopped container: its writable layer (exact)
//   images       dangling images no container uses (image prune), or every image no container
//                uses (prune -a), with the layers no image left holds: drayd works that out
//                (/api/prune-estimate), as a layer shared with an image that stays is kept
//   volumes      volumes no container uses; without "all" only anonymous ones (API 1.42 and later)
//   build cache  cache mounts no step uses and entries whose image is gone; a step entry's layer
//                belongs to its image (Shared), so it frees nothing itself
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { actJson, get, getOwn, type PruneEstimate } from '../api';
import { bytes } from '../format';
import { useLiveList } from '../live';
import { toastError } from '../toast';

interface DF {
  LayersSize: number;
  Images: { Id: string; RepoTags: string[] | null; RepoDigests?: string[] | null; Size: number; Containers: number }[];
  Containers: { Id: string; Names: string[]; State: string; SizeRw?: number }[];
  Volumes: { Name: string; Labels?: Record<string, string> | null; UsageData?: { Size: number; RefCount: number } }[];
  BuildCache: { ID: string; Type: string; Size: number; InUse: boolean; Shared: boolean; Description?: string }[] | null;
}

const ANONYMOUS = 'com.docker.volume.anonymous';
const n = (count: number, one: string) => `${count} ${one}${count === 1 ? '' : 's'}`;

export interface PruneEstimates {
  containers: { count: number; bytes: number };
  images: { count: number; bytes: number };
  imagesAll: { count: number; bytes: number };
  volumes: { count: number; bytes: number };
  volumesAll: { count: number; bytes: number };
  buildCache: { count: number; bytes: number };
}

export function estimates(df: DF, img: PruneEstimate): PruneEstimates {
  const sum = <T,>(xs: T[], f: (x: T) => number) => ({ count: xs.length, bytes: xs.reduce((n, x) => n + (f(x) || 0), 0) });
  const unusedVolumes = df.Volumes.filter((v) => (v.UsageData?.RefCount ?? 0) === 0);
  return {
    containers: sum(df.Containers.filter((c) => !['running', 'paused', 'restarting'].includes(c.State)), (c) => c.SizeRw ?? 0),
    images: { count: img.images.images, bytes: img.images.bytes },
    imagesAll: { count: img.imagesAll.images, bytes: img.imagesAll.bytes },
    volumes: sum(unusedVolumes.filter((v) => v.Labels && ANONYMOUS in v.Labels), (v) => v.UsageData?.Size ?? 0),
    volumesAll: sum(unusedVolumes, (v) => v.UsageData?.Size ?? 0),
    buildCache: sum((df.BuildCache ?? []).filter((b) => !b.InUse && !b.Shared), (b) => b.Size),
  };
}

function Card({ kind, title, total, count, frees, prune, extra }: {
  kind: string; title: string; total: number; count: string; frees: { count: number; bytes: number };
  prune?: () => void; extra?: ComponentChildren;
}) {
  const pct = total > 0 ? Math.min(100, (frees.bytes / total) * 100) : 0;
  return (
    <section class="card" data-disk={kind} aria-label={title}>
      <h2 style="margin-top: 0">{title}</h2>
      <div class="value">{bytes(total)}</div>
      <div class="muted">{count}</div>
      <div class="bar" role="img" aria-label={`${pct.toFixed(0)} % reclaimable`}><span style={`width: ${pct}%`} /></div>
      <p style="margin: .3rem 0" data-frees={frees.bytes}>Prune frees <strong>{bytes(frees.bytes)}</strong> ({frees.count})</p>
      {extra}
      {prune && <button class="danger" disabled={!frees.count} onClick={prune} aria-label={`Prune ${title.toLowerCase()}, frees ${bytes(frees.bytes)}`}>Prune</button>}
    </section>
  );
}

export function Disk() {
  const { data, error } = useLiveList((s) => Promise.all([get<DF>('/system/df', s), getOwn<PruneEstimate>('/prune-estimate', s)]),
    (e) => (e.Type === 'container' && /^(create|destroy|die|commit)$/.test(e.Action)) || e.Type === 'image' || e.Type === 'volume' || e.Type === 'builder');
  const [note, setNote] = useState<string>();
  if (error && !data) return <p role="alert">Could not read disk usage: {error}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  const [df, imgEst] = data;
  const est = estimates(df, imgEst);
  const prune = async (what: string, path: string) => {
    if (!confirm(`Prune ${what}?`)) return;
    try {
      const r = await actJson<{ SpaceReclaimed: number }>(path);
      setNote(`Pruned ${what}: ${bytes(r.SpaceReclaimed)} freed.`);
    } catch (e) { toastError(e); }
  };
  const volTotal = df.Volumes.reduce((n, v) => n + (v.UsageData?.Size ?? 0), 0);
  const rwTotal = df.Containers.reduce((n, c) => n + (c.SizeRw ?? 0), 0);
  const cacheTotal = (df.BuildCache ?? []).reduce((n, b) => n + b.Size, 0);
  const running = df.Containers.filter((c) => c.State === 'running').length;
  return (
    <>
      <h1>Disk usage</h1>
      {note && <p role="status">{note}</p>}
      <div class="cards">
        <Card kind="images" title="Images" total={df.LayersSize} count={`${n(df.Images.length, 'image')}, ${df.Images.filter((i) => i.Containers > 0).length} in use`}
          frees={est.images} prune={() => void prune('dangling images', '/images/prune')}
          extra={<p class="muted" style="margin: 0 0 .4rem" data-frees-all={est.imagesAll.bytes}>Every unused image (prune -a): {bytes(est.imagesAll.bytes)} ({est.imagesAll.count})</p>} />
        <Card kind="containers" title="Containers" total={rwTotal} count={`${n(df.Containers.length, 'container')}, ${running} running`}
          frees={est.containers} prune={() => void prune('stopped containers', '/containers/prune')} />
        <Card kind="volumes" title="Volumes" total={volTotal} count={`${n(df.Volumes.length, 'volume')}, ${df.Volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length} in use`}
          frees={est.volumes} prune={() => void prune('unused anonymous volumes', '/volumes/prune')}
          extra={<p class="muted" style="margin: 0 0 .4rem" data-frees-all={est.volumesAll.bytes}>Every unused volume (prune --all): {bytes(est.volumesAll.bytes)} ({est.volumesAll.count})</p>} />
        <Card kind="build-cache" title="Build cache" total={cacheTotal} count={n((df.BuildCache ?? []).length, 'record')}
          frees={est.buildCache} prune={() => void prune('the build cache', '/build/prune')} />
      </div>
    </>
  );
}
