// Random container names in Docker's "adjective_surname" style.
import { randomInt } from 'node:crypto';

const left = ['admiring', 'brave', 'calm', 'clever', 'dazzling', 'eager', 'elegant', 'festive', 'focused', 'gallant',
  'happy', 'hopeful', 'jolly', 'keen', 'kind', 'lucid', 'modest', 'nifty', 'optimistic', 'peaceful', 'quirky',
  'relaxed', 'serene', 'sharp', 'stoic', 'tender', 'upbeat', 'vibrant', 'wizardly', 'zealous'];
const right = ['agnesi', 'babbage', 'curie', 'darwin', 'euclid', 'fermat', 'galois', 'hopper', 'hypatia', 'kepler',
  'lamport', 'lovelace', 'meitner', 'noether', 'pascal', 'ritchie', 'shannon', 'thompson', 'turing', 'wozniak',
  'knuth', 'dijkstra', 'liskov', 'hamilton', 'goldberg', 'torvalds', 'mccarthy', 'ramanujan', 'germain', 'tesla'];

export function randomName(taken: (n: string) => boolean): string {
  for (let i = 0; i < 20; i++) {
    const n = `${left[randomInt(left.length)]}_${right[randomInt(right.length)]}`;
    const name = i < 10 ? n : `${n}${randomInt(10)}`;
    if (!taken(name)) return name;
  }
  return `dray_${randomInt(1e9)}`;
}

const validName = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
export const isValidName = (n: string) => validName.test(n);
