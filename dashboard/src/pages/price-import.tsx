// Import LiteLLM's price map (model_prices_and_context_window.json) on the Prices page, with
// the command line's own code: planImport (client/cli/litellm.ts) judges the file, diffPlan
// (client/cli/price-diff.ts) compares it with the platform's prices in force, sendPlan sends
// it through setPrices in batches of 100. The file is read in the browser and goes nowhere
// else. Loaded lazily (its own chunk, with decimal.js): the overview does not pay for it.
import { useState } from 'preact/hooks';
import { type ImportPlan, planImport } from '../../../client/cli/litellm';
import { type Diff, diffPlan, nameOf, type Sent, sendPlan } from '../../../client/cli/price-diff';
import type { Session } from '../session';

interface Loaded {
  file: string;
  plan: ImportPlan;
  diff: Diff;
}

export default function PriceImport({ s, onApplied }: { s: Session; onApplied: () => void }) {
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState('');
  const [sent, setSent] = useState<Sent | null>(null);

  const choose = async (input: HTMLInputElement) => {
    const file = input.files?.[0];
    input.value = ''; // choosing the same file again reads it again
    if (!file) return;
    setError('');
    setSent(null);
    setLoaded(null);
    setBusy('Reading…');
    try {
      let map: unknown;
      try {
        map = JSON.parse(await file.text());
      } catch (e) {
        throw new Error(`${file.name} is not JSON: ${(e as Error).message}`);
      }
      if (!map || typeof map !== 'object' || Array.isArray(map))
        throw new Error(`${file.name} is not a price map (a JSON object of model entries)`);
      const plan = planImport(map as Record<string, unknown>);
      const current = await s.client.prices({ at: new Date().toISOString() });
      setLoaded({ file: file.name, plan, diff: diffPlan(plan, current, null) });
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy('');
    }
  };

  const apply = async () => {
    if (!loaded) return;
    setError('');
    setBusy('Applying…');
    try {
      const total = loaded.plan.prices.length;
      setSent(
        await sendPlan(s.client, loaded.plan, {
          from: new Date().toISOString(),
          concurrency: 2,
          progress: (done) => setBusy(`Applying… ${done} / ${total}`),
        }),
      );
      onApplied();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy('');
    }
  };

  const d = loaded?.diff;
  const plan = loaded?.plan;
  return (
    <div class="card import">
      <label>
        Import LiteLLM prices (<code>model_prices_and_context_window.json</code>, read here, sent nowhere else){' '}
        <input
          type="file"
          accept=".json,application/json"
          data-testid="price-import-file"
          onChange={(e) => void choose(e.currentTarget)}
        />
      </label>
      {busy && <p class="muted">{busy}</p>}
      {error && <p class="error">{error}</p>}
      {d && plan && (
        <div
          data-testid="price-import-diff"
          data-added={d.added.length}
          data-changed={d.changed.length}
          data-unchanged={d.unchanged.length}
          data-skipped={plan.skipped.length}
          data-collisions={plan.collisions.length}
        >
          <p>
            {loaded.file}: <strong>{d.added.length}</strong> added, <strong>{d.changed.length}</strong> changed,{' '}
            {d.unchanged.length} unchanged, {plan.skipped.length} skipped, {plan.collisions.length} collision(s)
          </p>
          {d.added.length > 0 && (
            <details open={d.added.length <= 20}>
              <summary>Added ({d.added.length})</summary>
              <ul>
                {d.added.map((a) => (
                  <li key={a.key} data-testid="price-import-added">
                    {nameOf(a.price)}
                    {a.key !== nameOf(a.price) && <span class="muted"> ({a.key})</span>}
                  </li>
                ))}
              </ul>
            </details>
          )}
          {d.changed.length > 0 && (
            <details open>
              <summary>Changed, old → new ({d.changed.length})</summary>
              <ul>
                {d.changed.map((c) => (
                  <li key={c.planned.key} data-testid="price-import-changed">
                    {nameOf(c.planned.price)}: {c.changes.join(', ')}
                  </li>
                ))}
              </ul>
            </details>
          )}
          {plan.skipped.length > 0 && (
            <details>
              <summary>Skipped ({plan.skipped.length})</summary>
              <ul>
                {plan.skipped.map((k) => (
                  <li key={k.key}>
                    <code>{k.key}</code>: {k.reason}
                  </li>
                ))}
              </ul>
            </details>
          )}
          {plan.collisions.length > 0 && (
            <details>
              <summary>Collisions ({plan.collisions.length}; the provider-qualified key wins)</summary>
              <ul>
                {plan.collisions.map((c) => (
                  <li key={c.winner}>
                    {nameOf(c)}: {c.winner} over {c.losers.join(', ')}
                    {c.differ ? ' (their prices differ)' : ''}
                  </li>
                ))}
              </ul>
            </details>
          )}
          <div class="controls">
            <button
              type="button"
              data-testid="price-import-apply"
              disabled={!!busy || !!sent || d.added.length + d.changed.length === 0}
              onClick={() => void apply()}
            >
              Apply {d.added.length + d.changed.length} price(s)
            </button>
          </div>
        </div>
      )}
      {sent && (
        <div
          data-testid="price-import-result"
          data-created={sent.created}
          data-unchanged={sent.unchanged}
          data-refused={sent.refused.length}
        >
          <p>
            Set {sent.created} price(s), {sent.unchanged} unchanged on the server
            {sent.refused.length ? `, ${sent.refused.length} refused` : ''}.
          </p>
          {sent.refused.length > 0 && (
            <ul class="error">
              {sent.refused.map((r) => (
                <li key={r.key}>
                  {r.key}: {r.reason}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </div>
  );
}
