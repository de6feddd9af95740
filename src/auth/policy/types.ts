// A bucket policy after parsing and validation (see document.ts). Field names follow the JSON
// grammar of IAM policies; lists are always arrays here, whatever shape the JSON had.

// '*' is anyone, anonymous included; otherwise Strata user names.
export type PrincipalSet = '*' | string[];

export interface ConditionClause {
  operator: string; // base operator, e.g. 'StringLike' (without IfExists or a set qualifier)
  ifExists: boolean;
  qualifier: 'ForAnyValue' | 'ForAllValues' | undefined;
  key: string; // condition key, lower case ('aws:sourceip')
  values: string[];
}

export interface PolicyStatement {
  sid: string | undefined;
  effect: 'Allow' | 'Deny';
  principal: PrincipalSet | undefined;
  notPrincipal: PrincipalSet | undefined;
  action: string[] | undefined;
  notAction: string[] | undefined;
  resource: string[] | undefined;
  notResource: string[] | undefined;
  conditions: ConditionClause[];
}

export interface PolicyDocument {
  version: '2012-10-17' | '2008-10-17';
  statements: PolicyStatement[];
}

// What is being asked, in the terms policies are written in.
export interface AccessRequest {
  principal: string | undefined; // Strata user name; undefined for an anonymous request
  action: string; // 's3:GetObject'
  resource: string; // 'arn:aws:s3:::bucket' or 'arn:aws:s3:::bucket/key'
  // Condition keys present in the request, lower case; absent keys are simply missing.
  context: Record<string, string[]>;
}

export type PolicyDecision = 'Allow' | 'Deny' | 'NoMatch';
