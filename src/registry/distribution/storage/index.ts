// The storage driver a configuration names, wrapped in the argument checks every driver shares.
import { mkdirSync } from 'node:fs';
import type { Config } from '../config';
import { checked, StorageDriver } from './driver';
import { FilesystemDriver } from './filesystem';

export function openStorage(cfg: Config['storage']): StorageDriver {
  if (cfg.driver === 's3') {
    // required here, not at the top: only an S3 registry loads the AWS SDK
    const { S3Driver } = require('./s3') as typeof import('./s3');
    return checked(new S3Driver(cfg));
  }
  mkdirSync(cfg.rootdirectory, { recursive: true });
  return checked(new FilesystemDriver(cfg.rootdirectory));
}

export function describeStorage(cfg: Config['storage']): string {
  return cfg.driver === 's3' ? `s3://${cfg.bucket}/${cfg.rootDirectory ?? ''}${cfg.endpoint ? ` at ${cfg.endpoint}` : ''}` : cfg.rootdirectory;
}
