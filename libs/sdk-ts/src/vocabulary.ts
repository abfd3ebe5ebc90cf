/**
 * The swarm vocabulary on top of `EmitterBase` (the Python SDK's `vocabulary.Emitter`): views per
 * agent now; the event factories (agents, tasks, messages, memory, tools, LLM calls, decisions)
 * are added here with the Python SDK's names and fields.
 */
import { EmitterBase } from "./emitter.js";

export class Emitter extends EmitterBase {
  /** A view of the same tracer whose events belong to `agentId` (one buffer, one connection). */
  forAgent(agentId: string): Emitter {
    return new Emitter(this.core, agentId);
  }
}
