/**
 * OTLP/JSON (the OpenTelemetry protocol's JSON encoding, `ExportTraceServiceRequest`) of an
 * execution's spans, so a trace file loads into any OTLP collector or viewer. The spans are
 * toOtelSpans' (GenAI semantic conventions); this only changes their encoding: camelCase fields,
 * numeric span kinds and status codes, and typed attribute values.
 * Spec: https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding
 * Framework-free; the browser exports with it, the oracle may serve it.
 */
import { toOtelSpans, type OtelSpan } from './provenance.js';
import type { ExecutionReceipt } from './receipts.js';

/** OTLP `AnyValue` for the attribute types spans carry. */
type OtlpValue =
  { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean };

/** SpanKind enum of the OTLP proto: INTERNAL = 1, CLIENT = 3. */
const SPAN_KIND = { INTERNAL: 1, CLIENT: 3 } as const;
/** Status.StatusCode of the OTLP proto. */
const STATUS_CODE = { UNSET: 0, OK: 1, ERROR: 2 } as const;

function otlpValue(v: string | number | boolean): OtlpValue {
  if (typeof v === 'boolean') return { boolValue: v };
  // int64 values are strings in OTLP/JSON.
  if (typeof v === 'number')
    return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  return { stringValue: v };
}

function otlpSpan(s: OtelSpan) {
  return {
    traceId: s.trace_id,
    spanId: s.span_id,
    ...(s.parent_span_id ? { parentSpanId: s.parent_span_id } : {}),
    name: s.name,
    kind: SPAN_KIND[s.kind],
    startTimeUnixNano: s.start_time_unix_nano,
    endTimeUnixNano: s.end_time_unix_nano,
    attributes: Object.entries(s.attributes).map(([key, value]) => ({
      key,
      value: otlpValue(value)
    })),
    status: {
      code: STATUS_CODE[s.status.code],
      ...(s.status.message ? { message: s.status.message } : {})
    }
  };
}

/** The OTLP/JSON trace export of one execution's receipts (`{ resourceSpans: [...] }`). */
export function toOtlpJson(
  receipts: readonly ExecutionReceipt[],
  serviceName = 'shard-oracle'
): { resourceSpans: unknown[] } {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: serviceName } }] },
        scopeSpans: [
          { scope: { name: 'shard.receipts' }, spans: toOtelSpans(receipts).map(otlpSpan) }
        ]
      }
    ]
  };
}
