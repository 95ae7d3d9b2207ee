export const API_VERSION = '1.47';
export const MIN_API_VERSION = '1.24';
export const ENGINE_VERSION = '27.5.0-dray';

export const versionNumber = (v: string): number => {
  const [maj, min] = v.split('.').map(Number);
  return maj * 1000 + (min || 0);
};
