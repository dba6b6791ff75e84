/**
 * Storage encoding of one receipt: the raw 64-byte signature in its own column, and the body (a
 * format byte, then the canonical JSON that was hashed and signed, byte for byte) raw-deflated with a preset dictionary of the words every receipt repeats
 * (field names, event kinds, tiers). Small JSON objects compress poorly on their own; the
 * dictionary is what brings a receipt to a few hundred bytes on disk.
 *
 * Format bytes: 0x00 = plain UTF-8 canonical JSON; 0x01 = deflate-raw with DICTIONARY_V1
 * followed by `"node_identity":"<signer key hex>"` (the row's signer, kept in the signers table),
 * so the 64-hex-char key every receipt repeats costs a few bytes instead of ~35.
 * DICTIONARY_V1 is frozen: changing it would make stored rows unreadable; add a v2 instead.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { canonicalize } from '../../src/lib/protocol/canonical-json.js';
import type { ExecutionReceipt } from '../../src/lib/protocol/receipts.js';
import { ReceiptDecodeError } from './errors.js';

const FORMAT_PLAIN = 0x00;
const FORMAT_DEFLATE_V1 = 0x01;

// zlib favours strings near the END of a preset dictionary: the most common ones go last.
const DICTIONARY_V1 = Buffer.from(
  [
    '"capability_tier":"local","gpu_available":false,"public_api":false,"queue_depth":0,"role":"oracle"',
    '"rejected_candidates":[{"candidate_id":"","reason":"trust_floor_unmet"},"budget_exceeded","deadline_exceeded","tier_not_allowed","missing_capability","unhealthy","residency_mismatch"]',
    '"policy_snapshot":{"allow_fallbacks":false,"allowed_supply_tiers":["personal","private","public"],"budget_limit":1.25,"capability_tags":["planning","summarization","synthesis"],"data_residency":null,"deadline_ms":45000,"fallback_order":["personal","private","public"],"max_public_spend":0.35,"step_budget_limit":null,"trust_tier":"verified_mesh"}',
    '"task_context":{"question":"","source_count":2,"source_ids":["s1"],"workflow_kind":"research_brief"}',
    '"result":{"brief":"","planner_notes":"","selected_source_ids":[],"source_summaries":[{"source_id":"","summary":"","title":""}],"sub_questions":[{"question":"","relevant_source_ids":[]}]}',
    '"model_metadata":{"constrained":"grammar","inference_mode":"standard","model_id":"","served_by":""}',
    '"failure_reason":"request_failed:","fallback_reason":"upstream_status:","failure_reason":"deadline_exceeded","no_candidate_satisfied_policy","daemon_restart_before_completion","Attempt orphaned during daemon restart","Applying ranked fallback","Attempt failed on ","Research brief failed before completion","Research brief assembled","Research brief workflow accepted with ","No candidate satisfied policy constraints","workflow_failed","workflow_complete","workflow_received","advancing_to_next_ranked_candidate"',
    '"candidate_rankings":[{"candidate_id":"","display_name":"","endpoint":"http://127.0.0.1:","healthy":true,"kind":"remote_oracle","latency_ms":',
    '"model_id":"","price_per_1k_input_usd":0,"price_per_1k_output_usd":0,"score":',
    '"selection_reason":"required_matches=',
    'policy_matches=',
    'latency_score=',
    'fallback_bias=',
    'trust_bonus=',
    'quality=',
    'remaining_budget_usd=',
    'remaining_deadline_ms=',
    '"tags":["planning","summarization","synthesis","reasoning","specialist","low_cost","extractive","personal_local","private_mesh","public_specialist"]',
    '"selected_candidate":{"candidate_id":"extractive","display_name":"extractive engine","kind":"extractive","kind":"local_engine","supply_tier":"personal","trust_tier":"local","tags":[',
    '"summary":"Ranked 3 candidate(s); winner: ","summary":"Dispatching summarize_source via ","summary":"Dispatching planner via ","summary":"Dispatching synthesize_brief via ","Completed summarize_source on ","Completed planner on ","Completed synthesize_brief on ",',
    '"supply_tier":"personal","supply_tier":"private","supply_tier":"public","trust_tier":"local","trust_tier":"verified_mesh","trust_tier":"private_attested","trust_tier":"public_specialist"',
    '"actual_cost_usd":0,"estimated_cost_usd":0,"input_tokens":',
    '"latency_ms":',
    '"output_tokens":',
    '"agent_identity":"workflow-controller","agent_identity":"summarize_source","agent_identity":"planner","agent_identity":"synthesize_brief"',
    '"capability_match_reason":"required_matches=',
    '"step_id":"workflow","step_id":"planner","step_id":"summarize-","step_id":"synthesize-brief","step_id":"result","step_kind":"workflow","step_kind":"planner","step_kind":"summarize_source","step_kind":"synthesize_brief","step_kind":"workflow_result"',
    '"event_kind":"planned","outcome":"planned","event_kind":"candidate_ranked","outcome":"ranked","event_kind":"fallback_applied","outcome":"fallback_applied","event_kind":"orphaned","outcome":"orphaned","event_kind":"failed","outcome":"failed","event_kind":"completed","outcome":"completed","event_kind":"dispatched","outcome":"dispatched"',
    '{"actual_cost_usd":0,"agent_identity":"","attempt_id":"exec-',
    ':planner:rank",":planner:attempt:1",":synthesize-brief:attempt:1",":summarize-',
    ':fallback:1","',
    '"capability_match_reason":"","event_kind":"dispatched","execution_id":"exec-',
    '","node_identity":"',
    '","outcome":"dispatched","parent_receipt_id":"rcpt-',
    '","prev_hash":"',
    '","receipt_id":"rcpt-',
    '","selected_candidate":{',
    '"seq":',
    '"signature":"',
    '","step_id":"',
    '","step_kind":"',
    '","summary":"',
    '","supply_tier":"',
    '"timestamp_ms":17',
    '"trust_tier":"',
    '"workflow_kind":"research_brief"}'
  ].join('')
);

/**
 * An 8 KiB window (enough for the dictionary plus a receipt) and a small hash table: zlib's
 * per-call set-up (allocating and clearing ~300 KiB at the defaults) dominated the cost of
 * compressing a ~1.5 KB receipt; these settings halve it at the same output size.
 */
const ZLIB_OPTIONS = { level: 6, windowBits: 13, memLevel: 4 } as const;

const dictionaries = new Map<string, Buffer>();
function dictionaryFor(signerKeyHex: string): Buffer {
  let dict = dictionaries.get(signerKeyHex);
  if (!dict) {
    dict = Buffer.concat([DICTIONARY_V1, Buffer.from(`"node_identity":"${signerKeyHex}"`)]);
    if (dictionaries.size > 64) dictionaries.clear();
    dictionaries.set(signerKeyHex, dict);
  }
  return dict;
}

/** Compresses the canonical JSON of a receipt body (the receipt minus its signature). */
export function encodeBodyJson(bodyJson: string, signerKeyHex: string): Buffer {
  const json = Buffer.from(bodyJson, 'utf8');
  const packed = deflateRawSync(json, { dictionary: dictionaryFor(signerKeyHex), ...ZLIB_OPTIONS });
  return packed.length < json.length
    ? Buffer.concat([Buffer.of(FORMAT_DEFLATE_V1), packed])
    : Buffer.concat([Buffer.of(FORMAT_PLAIN), json]);
}

/** The stored form of a signed receipt: compressed canonical body + raw 64-byte signature. */
export function encodeReceipt(receipt: ExecutionReceipt): { body: Buffer; sig: Buffer } {
  const { signature, ...body } = receipt;
  return {
    body: encodeBodyJson(canonicalize(body), receipt.node_identity),
    sig: Buffer.from(signature, 'hex')
  };
}

/** Rebuilds the receipt object exactly as it was signed. Throws ReceiptDecodeError. */
export function decodeReceipt(
  body: Buffer | Uint8Array,
  sig: Buffer | Uint8Array,
  signerKeyHex: string
): ExecutionReceipt {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
  let json: string;
  try {
    switch (buf[0]) {
      case FORMAT_PLAIN:
        json = buf.subarray(1).toString('utf8');
        break;
      case FORMAT_DEFLATE_V1:
        json = inflateRawSync(buf.subarray(1), {
          dictionary: dictionaryFor(signerKeyHex),
          windowBits: ZLIB_OPTIONS.windowBits
        }).toString('utf8');
        break;
      default:
        throw new ReceiptDecodeError(`unknown receipt body format byte ${buf[0]}`);
    }
    return {
      ...(JSON.parse(json) as Omit<ExecutionReceipt, 'signature'>),
      signature: Buffer.from(sig).toString('hex')
    } as ExecutionReceipt;
  } catch (err) {
    if (err instanceof ReceiptDecodeError) throw err;
    throw new ReceiptDecodeError('stored receipt body cannot be decoded', { cause: err });
  }
}
