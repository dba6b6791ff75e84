/**
 * Turns a request into prompt tokens: chats through the model's own chat template (resolved by
 * node-llama-cpp from the GGUF metadata), raw prompts through the tokenizer with the BOS token
 * the model expects.
 */
import type { ChatHistoryItem, ChatWrapper, LlamaModel } from 'node-llama-cpp';
import { InvalidGenerateOptionsError } from './errors.js';
import type { ChatMessage, GenerateOptions } from './index.js';

/** Renders prompts for one model; created once per engine. */
export class PromptRenderer {
  constructor(
    private readonly model: LlamaModel,
    private readonly chatWrapper: ChatWrapper
  ) {}

  /**
   * The chat's tokens with an open assistant turn at the end (where generation continues).
   * Used for generation and for `countChatTokens()`, so both count the same tokens.
   */
  renderChat(messages: ChatMessage[]): number[] {
    const history: ChatHistoryItem[] = messages.map((m) =>
      m.role === 'assistant'
        ? { type: 'model', response: [m.content] }
        : { type: m.role, text: m.content }
    );
    history.push({ type: 'model', response: [] });
    const { contextText } = this.chatWrapper.generateContextState({ chatHistory: history });
    return contextText.tokenize(this.model.tokenizer);
  }

  /**
   * The prompt of validated options: `messages` through the template, else `prompt` tokenized
   * with a BOS token prepended when the model wants one. Throws InvalidGenerateOptionsError for
   * an empty prompt on a model without BOS (nothing to condition on).
   */
  render(options: GenerateOptions): number[] {
    if (options.messages) return this.renderChat(options.messages);
    const tokens = this.model.tokenize(options.prompt ?? '', false);
    const bos = this.model.tokens.bos;
    if (this.model.tokens.shouldPrependBosToken && bos !== null && tokens[0] !== bos)
      tokens.unshift(bos);
    if (tokens.length === 0)
      throw new InvalidGenerateOptionsError('prompt is empty and the model has no BOS token');
    return tokens;
  }
}
