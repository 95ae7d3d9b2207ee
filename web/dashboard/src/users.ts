// Which containers use a volume or a network: from the container list (its Mounts and
// NetworkSettings), refetched when a container comes, goes or changes networks.
import { get } from './api';
import { useLiveList } from './live';
import type { ContainerSummary } from './views/Containers';

export type WithUse = ContainerSummary & {
  Mounts?: { Type: string; Name?: string; Destination: string }[] | null;
  NetworkSettings?: { Networks?: Record<string, { NetworkID?: string }> | null };
};

export function useContainerUse(): WithUse[] | undefined {
  return useLiveList((s) => get<WithUse[]>('/containers/json?all=1', s),
    (e) => (e.Type === 'container' && /^(create|destroy|rename)$/.test(e.Action)) || (e.Type === 'network' && /^(connect|disconnect)$/.test(e.Action))).data;
}
