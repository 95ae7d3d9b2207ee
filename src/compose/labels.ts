// The labels Docker Compose keeps its state in, on containers, networks and volumes. dray compose
// writes and reads the same ones, so Docker Compose (v2, and docker-compose 1.29, which finds its
// containers by project, service and oneoff) and dray compose see each other's projects.
export const PROJECT = 'com.docker.compose.project';
export const SERVICE = 'com.docker.compose.service';
export const NUMBER = 'com.docker.compose.container-number';
export const ONEOFF = 'com.docker.compose.oneoff';
export const CONFIG_HASH = 'com.docker.compose.config-hash';
export const DEPENDS_ON = 'com.docker.compose.depends_on';
export const IMAGE = 'com.docker.compose.image';
export const WORKING_DIR = 'com.docker.compose.project.working_dir';
export const CONFIG_FILES = 'com.docker.compose.project.config_files';
export const ENV_FILE = 'com.docker.compose.project.environment_file';
export const VERSION = 'com.docker.compose.version';
export const REPLACE = 'com.docker.compose.replace';
export const SLUG = 'com.docker.compose.slug';
export const NETWORK = 'com.docker.compose.network';
export const VOLUME = 'com.docker.compose.volume';
/** Dray's own: which version of the config hash (hash.ts) the container's hash was made with. */
export const HASH_VERSION = 'io.dray.compose.config-hash-version';

/** dray compose's version: `dray compose version`, and com.docker.compose.version on what it makes. */
export const DRAY_COMPOSE_VERSION = '0.1.0';

export const projectFilter = (project: string) => ({ label: [`${PROJECT}=${project}`] });
