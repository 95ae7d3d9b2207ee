// Where everything lives in the storage driver. Every path the registry reads or writes is made
// here, and nowhere else:
//
//   /                                   the driver's root: a directory, or a key prefix in a bucket
//   ├── blobs/                          the content store, shared by every repository (each blob stored once)
//   │   └── sha256/ab/abcdef…/          one directory per blob: algorithm / first two hex / hex
//   │       ├── data                    the bytes; written only by moving a verified upload (or manifest) here
//   │       └── used                    empty marker, on drivers that cannot touch `data`: its age says
//   │                                   when a client last relied on the blob (GC keeps recent ones)
//   ├── repositories/
//   │   └── <name>/…                    a repository; each component of its name is a directory
//   │       ├── _layers/sha256/<hex>/link              this repository may serve that blob (content: the digest)
//   │       ├── _manifests/revisions/sha256/<hex>/link a manifest of this repository (content: JSON digest and media type)
//   │       ├── _manifests/tags/<tag>/link             what the tag points at (content: the digest)
//   │       └── _referrers/sha256/<subject hex>/sha256/<hex>/link
//   │                                                  a manifest whose subject is <subject> (content: its descriptor, JSON)
//   ├── uploads/
//   │   └── <id>/                       an upload in progress: never visible as a blob
//   │       ├── info                    JSON: repository, start time
//   │       └── data                    the bytes received so far
//   └── trash/<run>/<algorithm>-<hex>   blobs a GC run is removing (put back if a client used them meanwhile)
//
// A name component never starts with "_" (the spec's grammar), so "_layers" and the rest cannot
// clash with a nested repository's name.
import type { Digest } from '../names';

export const BLOBS = '/blobs';
export const REPOSITORIES = '/repositories';
export const UPLOADS = '/uploads';
export const TRASH = '/trash';

const part = (d: Digest) => `${d.algorithm}/${d.hex}`;

export const layout = {
  blobDir: (d: Digest) => `${BLOBS}/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}`,
  blobData: (d: Digest) => `${layout.blobDir(d)}/data`,
  blobUsed: (d: Digest) => `${layout.blobDir(d)}/used`,

  repo: (name: string) => `${REPOSITORIES}/${name}`,
  layerLink: (name: string, d: Digest) => `${REPOSITORIES}/${name}/_layers/${part(d)}/link`,
  layersDir: (name: string) => `${REPOSITORIES}/${name}/_layers`,
  revisionLink: (name: string, d: Digest) => `${REPOSITORIES}/${name}/_manifests/revisions/${part(d)}/link`,
  revisionDir: (name: string, d: Digest) => `${REPOSITORIES}/${name}/_manifests/revisions/${part(d)}`,
  revisionsDir: (name: string) => `${REPOSITORIES}/${name}/_manifests/revisions`,
  tagsDir: (name: string) => `${REPOSITORIES}/${name}/_manifests/tags`,
  tagDir: (name: string, tag: string) => `${REPOSITORIES}/${name}/_manifests/tags/${tag}`,
  tagLink: (name: string, tag: string) => `${REPOSITORIES}/${name}/_manifests/tags/${tag}/link`,
  referrersDir: (name: string, subject: Digest) => `${REPOSITORIES}/${name}/_referrers/${part(subject)}`,
  referrerDir: (name: string, subject: Digest, d: Digest) => `${REPOSITORIES}/${name}/_referrers/${part(subject)}/${part(d)}`,
  referrerLink: (name: string, subject: Digest, d: Digest) => `${REPOSITORIES}/${name}/_referrers/${part(subject)}/${part(d)}/link`,

  uploadDir: (id: string) => `${UPLOADS}/${id}`,
  uploadInfo: (id: string) => `${UPLOADS}/${id}/info`,
  uploadData: (id: string) => `${UPLOADS}/${id}/data`,

  trash: (run: string, d: Digest) => `${TRASH}/${run}/${d.algorithm}-${d.hex}`,
};

/** The digest a blob path ("/blobs/sha256/ab/<hex>/data") is of, or undefined for any other path. */
export function digestOfBlobPath(p: string): Digest | undefined {
  const m = /^\/blobs\/([a-z0-9]+)\/([a-f0-9]{2})\/([a-f0-9]+)\/data$/.exec(p);
  if (!m || !m[3].startsWith(m[2])) return undefined;
  return { algorithm: m[1], hex: m[3], text: `${m[1]}:${m[3]}` };
}
