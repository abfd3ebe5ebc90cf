// Compile-time check of the hand-written bodies of types.ts that are not aliases of the generated
// ones (their free JSON is `unknown` in openapi.generated.ts and `Json` here): each generated
// response model, with `unknown` read as Json, must be assignable to the type the UI uses, so a
// field renamed or retyped in libs/schema api.py fails `npm run lint` once `npm run gen:api` ran.
import type { components } from './openapi.generated';
import type * as T from './types';

type Schemas = components['schemas'];
type Jsonify<V> = unknown extends V
  ? T.Json
  : V extends readonly (infer U)[]
    ? Jsonify<U>[]
    : V extends object
      ? { [K in keyof V]: Jsonify<V[K]> }
      : V;
type Fits<A extends B, B> = [A, B];

// Not checked, because the UI's type is narrower than the schema promises (found by this check; left
// as they are, the gateway does send them): SystemState.session (optional in the schema),
// StatePage.collection (a string in the schema, StateCollectionName here), SessionFacets' four
// lists (optional in the schema).

export type HandWrittenBodiesFit = [
  Fits<Jsonify<Schemas['StoredEvent']>, T.StoredEvent>,
  Fits<Jsonify<Schemas['AgentState']>, T.AgentState>,
  Fits<Jsonify<Schemas['TaskState']>, T.TaskState>,
  Fits<Jsonify<Schemas['MemoryEntry']>, T.MemoryEntry>,
  Fits<Jsonify<Schemas['CommunicationEntry']>, T.CommunicationEntry>,
  Fits<Jsonify<Schemas['StateDiff']>, T.StateDiff>,
  Fits<Jsonify<Schemas['StepResult']>, T.StepResult>,
  Fits<Jsonify<Schemas['BreakpointHit']>, T.BreakpointHit>,
  Fits<Jsonify<Schemas['WatchResult']>, T.WatchResult>,
  Fits<Jsonify<Schemas['SessionComparison']>, T.SessionComparison>,
];
