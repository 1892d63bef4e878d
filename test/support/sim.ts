// One Archestra simulator per test file: started before its tests, closed after them, and each test starts
// with no recorded requests and no behaviour or latency a test before it set.
import { startArchestraSim, type ArchestraSim } from '../../sim/archestra';
import type { ArchestraSimOptions } from '../../sim/types';

/** Registers the file's hooks; `ready` receives the simulator once it listens (before the first test). */
export function useArchestraSim(options: ArchestraSimOptions, ready: (sim: ArchestraSim) => void): void {
  let sim: ArchestraSim | undefined;
  beforeAll(async () => {
    sim = await startArchestraSim(options);
    ready(sim);
  });
  afterAll(() => sim?.close());
  beforeEach(() => {
    sim?.clear();
    sim?.setBehaviour(undefined);
    sim?.setLatency(undefined);
  });
}
