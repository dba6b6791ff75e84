/**
 * Downloads of an execution's receipts from the provenance explorer, computed in the browser
 * from the receipts it holds (so they work offline) with the same shared code the oracle's
 * `/receipts?format=` routes use: the receipts as signed (JSON), W3C PROV-JSON, and OTLP/JSON.
 */
import { toProvJson } from '$lib/protocol/provenance.js';
import { toOtlpJson } from '$lib/protocol/otlp.js';
import type { ExecutionReceipt } from '$lib/protocol/receipts.js';

export type ExportFormat = 'json' | 'prov' | 'otel';

export const EXPORT_LABELS: Record<ExportFormat, string> = {
  json: 'Receipts (JSON)',
  prov: 'W3C PROV-JSON',
  otel: 'OpenTelemetry (OTLP JSON)'
};

/** File name and content of one export; receipts in seq order, exactly as received. */
export function exportFile(
  format: ExportFormat,
  executionId: string,
  receipts: readonly ExecutionReceipt[]
): { name: string; text: string } {
  const data =
    format === 'json'
      ? { execution_id: executionId, count: receipts.length, receipts }
      : format === 'prov'
        ? toProvJson(receipts)
        : toOtlpJson(receipts);
  const suffix = format === 'json' ? 'receipts' : format === 'prov' ? 'prov' : 'otlp';
  return { name: `${executionId}.${suffix}.json`, text: `${JSON.stringify(data, null, 2)}\n` };
}

/** Saves `text` as a file named `name` through the browser's download (an object URL). */
export function download(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  // The click has handed the blob to the download manager; revoking later keeps it alive until then.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
