/**
 * The extractive engine: research-brief steps without any language model. Sources are ranked
 * with Okapi BM25 (Robertson & Zaragoza 2009; k1 = 1.2, b = 0.75), summaries are the
 * best-scoring sentences of a source in their original order, and the brief is assembled from
 * the summaries. Deterministic: the same input always gives the same output, so a workflow
 * completes (and can be tested) on any machine.
 */

const STOPWORDS = new Set(
  'a an and are as at be been but by can could did do does for from had has have how i if in into is it its may might of on or our should so than that the their them then there these they this those to was we were what when where which while who why will with would you your'.split(
    ' '
  )
);

/** Lower-cased word tokens without stopwords; a trailing plural `s` is stripped (light stemming). */
export function tokenize(text: string): string[] {
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  return words
    .filter((w) => !STOPWORDS.has(w))
    .map((w) => (w.length > 3 && w.endsWith('s') && !w.endsWith('ss') ? w.slice(0, -1) : w));
}

/** Number of word tokens (stopwords included): the extractive engine's token count for usage. */
export function countWords(text: string): number {
  return (text.match(/[\p{L}\p{N}]+/gu) ?? []).length;
}

/** Sentences of a text: split after . ! ? and at line breaks; blanks dropped. */
export function splitSentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+|\n+/u)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

const K1 = 1.2;
const B = 0.75;

/** BM25 over a fixed set of token lists; `score(query, i)` is the score of document i. */
export function createBm25(docs: readonly string[][]) {
  const n = docs.length;
  const avgdl = docs.reduce((s, d) => s + d.length, 0) / Math.max(1, n);
  const df = new Map<string, number>();
  const tfs = docs.map((d) => {
    const tf = new Map<string, number>();
    for (const t of d) tf.set(t, (tf.get(t) ?? 0) + 1);
    for (const t of tf.keys()) df.set(t, (df.get(t) ?? 0) + 1);
    return tf;
  });
  // The "+1" variant of the idf keeps scores non-negative for terms in most documents.
  const idf = (t: string) => Math.log(1 + (n - (df.get(t) ?? 0) + 0.5) / ((df.get(t) ?? 0) + 0.5));
  return {
    score(query: readonly string[], i: number): number {
      const tf = tfs[i]!;
      const dl = docs[i]!.length;
      let s = 0;
      for (const q of new Set(query)) {
        const f = tf.get(q) ?? 0;
        if (f === 0) continue;
        s += idf(q) * ((f * (K1 + 1)) / (f + K1 * (1 - B + (B * dl) / Math.max(1e-9, avgdl))));
      }
      return s;
    }
  };
}

export interface ExtractiveSource {
  id: string;
  title: string | null;
  content: string;
}

export interface ExtractivePlan {
  planner_notes: string;
  selected_source_ids: string[];
  sub_questions: Array<{ question: string; relevant_source_ids: string[] }>;
}

const round = (x: number) => Math.round(x * 100) / 100;

/** Sources ranked by BM25 against `query` (title + content), ties in input order. */
export function rankSources(
  query: string,
  sources: readonly ExtractiveSource[]
): Array<{ id: string; score: number }> {
  const bm = createBm25(sources.map((s) => tokenize(`${s.title ?? ''} ${s.content}`)));
  const q = tokenize(query);
  return sources
    .map((s, i) => ({ id: s.id, score: bm.score(q, i), i }))
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .map(({ id, score }) => ({ id, score }));
}

/** Clauses of a question worth asking separately (split at ?, ; and " and "), at most 4. */
function clauses(question: string): string[] {
  const parts = question
    .split(/\?|;|\band\b/iu)
    .map((p) => p.trim().replace(/[,.\s]+$/u, ''))
    .filter((p) => tokenize(p).length >= 2);
  return parts.length > 1 ? parts.slice(0, 4).map((p) => (p.endsWith('?') ? p : `${p}?`)) : [];
}

/** Distinct content words a query needs a source to share before the source counts as on topic. */
const MIN_SHARED_WORDS = 2;

/**
 * Whether a source is on topic: it shares at least MIN_SHARED_WORDS distinct content words (or
 * half of them, for a query of one or two words) with the question or with one of its clauses.
 * One shared word is not enough: with few sources BM25 gives a word found in one source a high
 * idf, so an unrelated source that happens to say "good" would score like a relevant one.
 */
function isOnTopic(queries: readonly string[], source: ExtractiveSource): boolean {
  const words = new Set(tokenize(`${source.title ?? ''} ${source.content}`));
  return queries.some((q) => {
    const terms = new Set(tokenize(q));
    const shared = [...terms].filter((t) => words.has(t)).length;
    return shared > 0 && shared >= Math.min(MIN_SHARED_WORDS, Math.ceil(terms.size / 2));
  });
}

/**
 * Deterministic planning: sources selected by relevance, clause-level sub-questions.
 * Selection, in BM25 order: the on-topic sources (isOnTopic); when none is, those with any BM25
 * match; when none has, every source (at most 6).
 */
export function extractivePlan(
  question: string,
  sources: readonly ExtractiveSource[]
): ExtractivePlan {
  const ranked = rankSources(question, sources);
  const subs = clauses(question);
  const byId = new Map(sources.map((s) => [s.id, s]));
  const onTopic = ranked.filter((r) => isOnTopic([question, ...subs], byId.get(r.id)!));
  const positive = ranked.filter((r) => r.score > 0);
  const selected = (onTopic.length > 0 ? onTopic : positive.length > 0 ? positive : ranked)
    .slice(0, 6)
    .map((r) => r.id);
  const subQuestions = (subs.length > 0 ? subs : [`Answer the main question: ${question}`]).map(
    (sq) => {
      const relevant = rankSources(
        sq,
        sources.filter((s) => selected.includes(s.id))
      )
        .filter((r) => r.score > 0)
        .map((r) => r.id);
      return { question: sq, relevant_source_ids: relevant.length > 0 ? relevant : [...selected] };
    }
  );
  const top = ranked[0];
  const left = sources.filter((s) => !selected.includes(s.id)).map((s) => s.id);
  return {
    planner_notes: `Deterministic plan: ${selected.length} of ${sources.length} source(s) selected by BM25 relevance to the question${
      top ? `; most relevant: ${top.id} (${round(top.score)})` : ''
    }${left.length > 0 ? `; not selected (off topic): ${left.join(', ')}` : ''}.`,
    selected_source_ids: selected,
    sub_questions: subQuestions
  };
}

/** The `maxSentences` sentences of a source most relevant to the question and focus, in source order. */
export function extractiveSummary(
  question: string,
  focus: readonly string[],
  source: ExtractiveSource,
  maxSentences = 3
): string {
  const sentences = splitSentences(source.content);
  if (sentences.length <= maxSentences) return sentences.join(' ');
  const bm = createBm25(sentences.map(tokenize));
  const q = tokenize([question, ...focus].join(' '));
  const scored = sentences.map((s, i) => ({ i, score: bm.score(q, i) }));
  const best = scored
    .filter((s) => s.score > 0)
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .slice(0, maxSentences);
  const picked =
    best.length > 0 ? best.map((b) => b.i).sort((a, b) => a - b) : [0, 1].slice(0, maxSentences);
  return picked.map((i) => sentences[i]).join(' ');
}

const HEDGES =
  /\b(however|but|although|though|disputed|uncertain|unclear|may|might|contradict\w*|not)\b/iu;

/** Assembles a brief from source summaries: answer, evidence, uncertainty, next step. */
export function extractiveSynthesis(
  question: string,
  summaries: ReadonlyArray<{ source_id: string; title?: string | null; summary: string }>,
  subQuestions: ReadonlyArray<{ question: string; relevant_source_ids: string[] }>
): string {
  const sentences: Array<{ text: string; source: string }> = [];
  for (const s of summaries)
    for (const text of splitSentences(s.summary)) sentences.push({ text, source: s.source_id });
  const bm = createBm25(sentences.map((s) => tokenize(s.text)));
  const q = tokenize(question);
  let best = -1;
  let bestScore = -1;
  sentences.forEach((_, i) => {
    const sc = bm.score(q, i);
    if (sc > bestScore) {
      bestScore = sc;
      best = i;
    }
  });
  const answer =
    best >= 0
      ? `${sentences[best]!.text} [${sentences[best]!.source}]`
      : 'The sources do not address the question directly.';
  const evidence = summaries.map(
    (s) => `- [${s.source_id}]${s.title ? ` ${s.title}:` : ''} ${s.summary}`
  );
  const hedged = sentences.filter((s) => HEDGES.test(s.text)).slice(0, 3);
  const uncertainty =
    hedged.length > 0
      ? hedged.map((s) => `- ${s.text} [${s.source}]`).join('\n')
      : '- No disagreement found across the selected sources.';
  const thinnest = [...subQuestions].sort(
    (a, b) => a.relevant_source_ids.length - b.relevant_source_ids.length
  )[0];
  const next = thinnest
    ? `Check "${thinnest.question}" against more sources (currently ${thinnest.relevant_source_ids.length}).`
    : 'Check the answer against an independent source.';
  return [
    `Answer: ${answer}`,
    'Evidence:',
    ...evidence,
    'Uncertainty:',
    uncertainty,
    `Next step: ${next}`
  ].join('\n');
}
