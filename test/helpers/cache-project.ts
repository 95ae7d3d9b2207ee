// The build the cache-export tests move between data roots (type=local and type=registry): two
// stages, a RUN in each, a COPY from the context and one from the other stage, so every kind of
// step has to come back as a hit.
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export function writeCacheProject(ctx: string): void {
  mkdirSync(ctx);
  writeFileSync(path.join(ctx, 'Dockerfile'), [
    'FROM busybox AS tool',
    'RUN echo tool > /tool',
    'FROM busybox',
    'RUN echo one > /one',
    'COPY f.txt /f.txt',
    'COPY --from=tool /tool /tool',
  ].join('\n'));
  writeFileSync(path.join(ctx, 'f.txt'), 'file\n');
}
