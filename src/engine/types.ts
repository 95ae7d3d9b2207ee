// Shapes shared across the engine, named and spelled as in the Docker Engine API (see
// shared/reference/docker-engine-api.yaml) so records can be served without translation.

/** Config of a container or an image ("ContainerConfig" in the API). */
export interface ContainerConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, {}> | null;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number; StartInterval?: number };
  ArgsEscaped?: boolean;
  Image?: string;
  Volumes?: Record<string, {}> | null;
  WorkingDir?: string;
  Entrypoint?: string[] | null;
  NetworkDisabled?: boolean;
  MacAddress?: string;
  OnBuild?: string[] | null;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number;
  Shell?: string[] | null;
}

/** The image configuration file (the JSON whose sha256 is the image ID). */
export interface ImageConfigFile {
  architecture: string;
  os: string;
  created?: string;
  author?: string;
  config?: ContainerConfig;
  container?: string;
  container_config?: ContainerConfig;
  docker_version?: string;
  comment?: string;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created?: string; created_by?: string; author?: string; comment?: string; empty_layer?: boolean }[];
  variant?: string;
  'os.version'?: string;
}

/** One image as the engine knows it. */
export interface Image {
  /** "sha256:<hex>" of the config file. */
  id: string;
  config: ImageConfigFile;
  repoTags: string[];
  repoDigests: string[];
  /** Sum of the unpacked sizes of its layers, in bytes. */
  size: number;
  /** Parent image ID for locally built/committed images ("" if none). */
  parent: string;
}
