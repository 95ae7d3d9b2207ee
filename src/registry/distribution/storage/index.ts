// The storage driver a configuration names, wrapped in the argument checks every driver shares.
import { existsSync, mkdirSync } from 'node:fs';
import { Config, ConfigError } from '../config';
import { checked, StorageDriver } from './driver';
import { FilesystemDriver } from './filesystem';

/** `create`: make the directory of filesystem storage (the server); maintenance wants one that exists. */
export function openStorage(cfg: Config['storage'], create = true): StorageDriver {
  if (cfg.driver === 's3') {
    // required here, not at the top: only an S3 registry loads the AWS SDK
    const { S3Driver } = require('./s3') as typeof import('./s3');
    return checked(new S3Driver(cfg));
  }
  if (create) mkdirSync(cfg.rootdirectory, { recursive: true });
  else if (!existsSync(cfg.rootdirectory)) throw new ConfigError(`no registry storage at ${cfg.rootdirectory}: no such directory`);
  return checked(new FilesystemDriver(cfg.rootdirectory));
}

export function describeStorage(cfg: Config['storage']): string {
  return cfg.driver === 's3' ? `s3://${cfg.bucket}/${cfg.rootDirectory ?? ''}${cfg.endpoint ? ` at ${cfg.endpoint}` : ''}` : cfg.rootdirectory;
}
