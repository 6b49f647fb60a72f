// Deleting what is old in small batches (each statement holds its row locks briefly): the
// minute rollups, expired subject tokens, reservations past their retention.

/** Runs `step(batch)` (which answers how many rows it handled) until one handles fewer; answers the total. */
export async function inBatches(batch: number, step: (limit: number) => Promise<number>): Promise<number> {
  let total = 0;
  for (let n = batch; n === batch; total += n) n = await step(batch);
  return total;
}
