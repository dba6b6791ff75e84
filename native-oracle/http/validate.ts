/**
 * Turns zod failures into one precise, human-readable message naming each offending field,
 * e.g. `messages.0.content: expected string, received number`.
 */
import type { z } from 'zod';

export function formatZodError(error: z.ZodError): string {
  const parts = error.issues.slice(0, 5).map((issue) => {
    const path = issue.path.length > 0 ? issue.path.map(String).join('.') : 'body';
    return `${path}: ${issue.message}`;
  });
  const more = error.issues.length > 5 ? ` (and ${error.issues.length - 5} more)` : '';
  return `invalid request: ${parts.join('; ')}${more}`;
}
