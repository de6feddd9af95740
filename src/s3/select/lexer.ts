// Splits an S3 Select expression into tokens. Keywords are not told apart here: an identifier
// token carries its upper-cased text and the parser decides what it means where it stands.
import assert from 'node:assert';
import { SelectError } from './errors.ts';

export type Token =
  | { kind: 'ident'; text: string; upper: string; quoted: boolean; at: number }
  | { kind: 'string'; text: string; at: number }
  | { kind: 'number'; text: string; at: number }
  | { kind: 'timestamp'; text: string; at: number }
  | { kind: 'op'; text: string; at: number }
  | { kind: 'end'; at: number };

// AWS caps an expression at 256 KiB; a longer one is refused before it is tokenized.
export const EXPRESSION_CHARS_MAX = 256 * 1024;

const OPERATORS = ['<>', '!=', '<=', '>=', '||', '=', '<', '>', '+', '-', '*', '/', '%'];
const PUNCTUATION = '(),.[];';

export function tokenize(source: string): Token[] {
  if (source.length > EXPRESSION_CHARS_MAX)
    throw new SelectError('InvalidRequestParameter', 'The SQL expression is too long.');
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '-' && source[i + 1] === '-') {
      while (i < source.length && source[i] !== '\n') i++; // a SQL line comment
    } else if (/[A-Za-z_]/.test(c)) {
      const start = i;
      while (i < source.length && /[A-Za-z0-9_]/.test(source[i])) i++;
      const text = source.slice(start, i);
      tokens.push({ kind: 'ident', text, upper: text.toUpperCase(), quoted: false, at: start });
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(source[i + 1] ?? ''))) {
      const match = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(source.slice(i));
      assert(match !== null, 'a digit starts a number');
      tokens.push({ kind: 'number', text: match[0], at: i });
      i += match[0].length;
    } else if (c === "'" || c === '"' || c === '`') {
      const { text, next } = quoted(source, i, c);
      if (c === "'") tokens.push({ kind: 'string', text, at: i });
      else if (c === '`') tokens.push({ kind: 'timestamp', text, at: i });
      else tokens.push({ kind: 'ident', text, upper: text, quoted: true, at: i });
      i = next;
    } else {
      const op = OPERATORS.find((o) => source.startsWith(o, i));
      if (op !== undefined) {
        tokens.push({ kind: 'op', text: op === '!=' ? '<>' : op, at: i });
        i += op.length;
      } else if (PUNCTUATION.includes(c)) {
        tokens.push({ kind: 'op', text: c, at: i });
        i++;
      } else {
        throw new SelectError('LexerInvalidChar', `Invalid character '${c}' at position ${i}.`);
      }
    }
  }
  tokens.push({ kind: 'end', at: source.length });
  return tokens;
}

// A quoted literal or identifier; the quote doubled inside stands for itself ('it''s').
function quoted(source: string, start: number, quote: string): { text: string; next: number } {
  let text = '';
  let i = start + 1;
  for (;;) {
    const close = source.indexOf(quote, i);
    if (close < 0)
      throw new SelectError('LexerInvalidLiteral', `Unterminated literal at position ${start}.`);
    text += source.slice(i, close);
    if (source[close + 1] !== quote) return { text, next: close + 1 };
    text += quote;
    i = close + 2;
  }
}
