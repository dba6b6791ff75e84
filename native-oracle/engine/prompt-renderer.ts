/**
 * Turns a request into prompt tokens: chats through the model's own chat template (resolved by
 * node-llama-cpp from the GGUF metadata), raw prompts through the tokenizer with the BOS token
 * the model expects.
 */
import type { ChatWrapper, LlamaModel } from 'node-llama-cpp';
import { InvalidGenerateOptionsError } from './errors.js';
import type { ChatMessage, GenerateOptions, ToolDefinition } from './index.js';
import { chatHistoryWithToolCalls, toAvailableFunctions } from './tool-calls.js';

/** Renders prompts for one model; created once per engine. */
export class PromptRenderer {
  constructor(
    private readonly model: LlamaModel,
    private readonly chatWrapper: ChatWrapper
  ) {}

  /**
   * The chat's tokens with an open assistant turn at the end (where generation continues).
   * Used for generation and for `countChatTokens()`, so both count the same tokens. Tool calls
   * and results, and the `tools`, are rendered by the chat wrapper (./tool-calls.ts). Throws
   * InvalidGenerateOptionsError for a tool call without a result or a result without a call.
   */
  renderChat(messages: ChatMessage[], tools?: readonly ToolDefinition[]): number[] {
    const history = chatHistoryWithToolCalls(messages);
    history.push({ type: 'model', response: [] });
    const { contextText } = this.chatWrapper.generateContextState({
      chatHistory: history,
      ...(tools && tools.length > 0 ? { availableFunctions: toAvailableFunctions(tools) } : {})
    });
    return contextText.tokenize(this.model.tokenizer);
  }

  /**
   * The prompt of validated options: `messages` through the template, else `prompt` tokenized
   * with a BOS token prepended when the model wants one. Throws InvalidGenerateOptionsError for
   * an empty prompt on a model without BOS (nothing to condition on).
   */
  render(options: GenerateOptions): number[] {
    if (options.messages) return this.renderChat(options.messages, options.tools);
    const tokens = this.model.tokenize(options.prompt ?? '', false);
    const bos = this.model.tokens.bos;
    if (this.model.tokens.shouldPrependBosToken && bos !== null && tokens[0] !== bos)
      tokens.unshift(bos);
    if (tokens.length === 0)
      throw new InvalidGenerateOptionsError('prompt is empty and the model has no BOS token');
    return tokens;
  }
}
