/**
 * "Did you mean …?": the known word closest to a mistyped one, by edit distance.
 *
 * Internal (used by `GatewayConfig` and its parsers). Levenshtein distance over UTF-16 code units;
 * a word is suggested only when it is close enough to be a likely typo, so an unrelated name gets
 * no misleading suggestion.
 *
 * @since 0.1.0
 */

/** Levenshtein distance (insertions, deletions, substitutions each cost 1). */
export const distance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution))
    }
    previous = current
  }
  return previous[b.length]!
}

/**
 * The candidate closest to `word` (case-insensitively), when at most a third of the longer of the
 * two differs (at least 2 edits allowed); ties go to the earlier candidate.
 */
export const suggest = (word: string, candidates: ReadonlyArray<string>): string | undefined => {
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of candidates) {
    const d = distance(word.toLowerCase(), candidate.toLowerCase())
    const allowed = Math.max(2, Math.floor(Math.max(word.length, candidate.length) / 3))
    if (d <= allowed && d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}
