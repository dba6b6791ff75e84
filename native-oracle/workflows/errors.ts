/** Failures of workflow execution. Receipts carry `reason`; messages are for humans. */

/** One attempt of a step failed; `reason` is the receipt's failure_reason. */
export class StepAttemptError extends Error {
  override name = 'StepAttemptError';
  constructor(
    readonly reason: string,
    options?: { cause?: unknown }
  ) {
    super(reason, options);
  }
}

/**
 * A step could not complete: no candidate satisfied the policy, every candidate the policy
 * allowed failed, or the execution was cancelled or ran past its deadline.
 */
export class StepExhaustedError extends Error {
  override name = 'StepExhaustedError';
}

/** The candidate configuration (JSON file or env) is invalid. */
export class WorkflowConfigError extends Error {
  override name = 'WorkflowConfigError';
}
