import { describe, expect, it } from 'vitest';
import { llmConversation, terminalRun } from '../src/model/conversation';
import { ev, storedSwarm } from './fixtures';

describe('LLM calls as a conversation', () => {
  it('reads the demo shape: a prompt at the start, the response and usage at the end', () => {
    const conv = llmConversation([
      ev(1, { type: 'llm_call', phase: 'start', data: { model: 'claude-sonnet-4', prompt: 'Plan the tasks' } }),
      ev(2, {
        type: 'llm_call',
        phase: 'complete',
        data: { model: 'claude-sonnet-4', response: 'T1 research, T2 code', input_tokens: 1200, output_tokens: 340, cost_usd: 0.0087 },
        performance: { duration: 420 },
      }),
    ]);
    expect(conv?.messages).toEqual([
      { role: 'user', text: 'Plan the tasks' },
      { role: 'assistant', text: 'T1 research, T2 code' },
    ]);
    expect(conv).toMatchObject({ model: 'claude-sonnet-4', inputTokens: 1200, outputTokens: 340, cost: 0.0087, durationMs: 420, open: false, error: null });
  });

  it('reads chat messages with a system prompt, content parts and tool calls', () => {
    const conv = llmConversation([
      ev(1, {
        type: 'llm_call',
        data: {
          model: 'gpt',
          system: 'You are a coder.',
          messages: [
            { role: 'user', content: [{ type: 'text', text: 'Fix the test' }] },
            { role: 'assistant', content: [{ type: 'tool_use', name: 'Bash', input: { command: 'pytest' } }] },
            { role: 'tool', content: '3 failed', name: 'Bash' },
          ],
          response: { choices: [{ message: { role: 'assistant', content: 'Done', tool_calls: [{ function: { name: 'Edit', arguments: '{"file":"a.py"}' } }] } }] },
        },
      }),
    ]);
    expect(conv?.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool', 'assistant']);
    expect(conv?.messages[2]?.toolCalls?.[0]?.name).toBe('Bash');
    expect(conv?.messages[3]).toMatchObject({ text: '3 failed', name: 'Bash' });
    expect(conv?.messages[4]?.toolCalls?.[0]?.args).toContain('"file": "a.py"');
  });

  it('reads OpenTelemetry GenAI attributes given as JSON text, and an open call', () => {
    const conv = llmConversation([
      ev(1, { type: 'llm_call', phase: 'start', data: { model: 'm', 'gen_ai.input.messages': JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: 'hi' }] }]) } }),
    ]);
    expect(conv?.messages).toEqual([{ role: 'user', text: 'hi' }]);
    expect(conv?.open).toBe(true);
    expect(llmConversation([ev(1)])).toBeNull();
  });
});

describe('tool calls as a terminal run', () => {
  it('shows the command, exit code and output of a failing Bash call', () => {
    const run = terminalRun([
      ev(1, { type: 'tool_call', phase: 'start', data: { tool: 'Bash', args: { command: 'pytest -q' } } }),
      ev(2, { type: 'tool_call', phase: 'error', data: { tool: 'Bash', exit_code: 1, result: 'E  refused\n3 failed', error: 'ConnectionError' } }),
    ]);
    expect(run).toEqual({ tool: 'Bash', command: 'pytest -q', exitCode: 1, output: 'E  refused\n3 failed', error: 'ConnectionError', durationMs: null, open: false });
  });

  it('names other tools by their main argument', () => {
    expect(terminalRun([ev(1, { type: 'tool_call', data: { tool: 'Read', args: { file_path: 'src/a.py' } } })])?.command).toBe('Read src/a.py');
    expect(terminalRun([ev(1, { type: 'tool_call', data: { tool: 'Calc', args: { x: 1 } } })])?.command).toBe('Calc {"x":1}');
    const swarmTool = storedSwarm('s').filter((e) => e.type === 'tool_call');
    expect(terminalRun(swarmTool)?.tool).toBeTruthy();
  });
});
