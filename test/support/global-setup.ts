// jest globalSetup: one plain message before the run when a program the tests spawn is missing.
import { describeMissing, missingPrerequisites } from './prerequisites';

export default function globalSetup(): void {
  const missing = missingPrerequisites();
  if (missing.length) process.stderr.write(`\n${describeMissing(missing)}\n\n`);
}
