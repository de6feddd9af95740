// Errors of S3 Select: a stable AWS code (ParseUnexpectedToken, CastFailed, ...) and the HTTP status
// AWS answers it with. src/s3/errors.ts turns them into S3 errors, in one place with the others.
export type SelectErrorCode =
  | 'LexerInvalidChar'
  | 'LexerInvalidLiteral'
  | 'ParseUnexpectedToken'
  | 'ParseExpectedExpression'
  | 'ParseExpectedKeyword'
  | 'ParseUnsupportedSyntax'
  | 'ParseInvalidTypeParam'
  | 'UnsupportedSqlStructure'
  | 'UnsupportedFunction'
  | 'IncorrectSqlFunctionArgumentType'
  | 'EvaluatorNegativeLimit'
  | 'EvaluatorInvalidArguments'
  | 'ExternalEvalException'
  | 'CastFailed'
  | 'DivideByZero'
  | 'LikeInvalidInputs'
  | 'InvalidColumnIndex'
  | 'InvalidExpressionType'
  | 'InvalidCompressionFormat'
  | 'InvalidFileHeaderInfo'
  | 'InvalidJsonType'
  | 'InvalidQuoteFields'
  | 'InvalidRequestParameter'
  | 'InvalidScanRange'
  | 'MissingRequiredParameter'
  | 'CSVParsingError'
  | 'JSONParsingError'
  | 'OverMaxRecordSize'
  | 'NotImplemented';

export class SelectError extends Error {
  readonly code: SelectErrorCode;
  readonly httpStatus: number;
  constructor(code: SelectErrorCode, message: string) {
    super(message);
    this.name = 'SelectError';
    this.code = code;
    // Everything is the request's fault (400) except what Strata does not do (501).
    this.httpStatus = code === 'NotImplemented' ? 501 : 400;
  }
}

export function notImplemented(what: string): SelectError {
  return new SelectError('NotImplemented', `${what} is not implemented by Strata's S3 Select.`);
}

// AWS's answer to an expression that cannot be evaluated on a record, such as an ordering
// comparison of a CSV string with a number (AWS does not convert implicitly: CAST is needed).
export function cannotEvaluate(detail: string): SelectError {
  return new SelectError(
    'ExternalEvalException',
    `The query cannot be evaluated. Please check the query and file and try again. (${detail})`,
  );
}
