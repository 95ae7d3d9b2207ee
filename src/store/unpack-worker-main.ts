// The entry of dist/dray-unpack.js, the bundle drayd's layer-unpacking worker threads run: only
// what unpacking needs (store/tar.ts, tar-stream), so a thread is ready in a fraction of the time
// it took to load all of drayd's bundle, which every first pull after an idle spell paid.
import { serveUnpackJobs } from './unpack-worker';

serveUnpackJobs();
