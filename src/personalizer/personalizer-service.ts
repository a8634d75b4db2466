/**
 * The Personalizer adapter: Azure Personalizer's operations translated into calls on Focal's decisions service
 * (one Focal model, FOCAL_PERSONALIZER_MODEL) and its evaluation jobs. It holds no learning rule of its own: what
 * Personalizer configures and Focal has a setting for is that setting; what Focal has no setting for (how often
 * a model is exported, auto-optimisation dates…) is kept in `personalizer_settings` and answered back.
 */
import type { BanditConfig } from '../bandit/index.js';
import type { DecisionService, ModelView } from '../decisions/decision-service.js';
import { learningMode, type ModelConfig, type ModelConfigInput } from '../decisions/model-config.js';
import { purgeLog, type LogRetention } from '../decisions/retention.js';
import { parseDuration } from '../platform/duration.js';
import type { Db } from '../store/database.js';
import { formatTimeSpan, parseTimeSpan } from './durations.js';
import { PersonalizerError } from './errors.js';
import { mergeFeatures } from './features.js';
import { readModelFile, writeModelFile } from './model-file.js';
import type { MultiSlotRankRequest, MultiSlotRewardRequest, PolicyContract, RankRequest, ServiceConfiguration } from './schemas.js';
import { formatPolicyArguments, parsePolicyArguments, PolicyArgumentError } from './vw-arguments.js';

/** Learning settings of a new Personalizer model: ε-greedy at Personalizer's default 20 %, context × action. */
export const DEFAULT_POLICY = { name: 'default', arguments: '--cb_explore_adf --epsilon 0.2 --cb_type mtr -l 0.5 --power_t 0.5 -q ::' };
/** Personalizer's defaults: rewards wait 10 minutes, 0 when none comes, the earliest one counts. */
const DEFAULT_REWARD = { waitSeconds: 600, default: 0, aggregation: 'first' as const };
/** Focal's longest retention stands for Personalizer's -1 ("never delete"): 999,999 days. */
export const FOREVER = '999999d';
const DAY = 86_400;

/** What Personalizer's service configuration holds that Focal's model configuration does not. */
interface StoredSettings {
  modelExportFrequency: string;
  logMirrorEnabled: boolean;
  isAutoOptimizationEnabled: boolean;
  autoOptimizationFrequency?: string;
  autoOptimizationStartDate?: string;
  modelRetrainDays: number;
  /** ε last configured (answered as explorationPercentage while the strategy has no ε). */
  explorationPercentage: number;
  /** The learning settings last written, answered as long as the model still runs the configuration they map onto. */
  policy?: PolicyContract & { config: BanditConfig };
  /** When the learned state was last started afresh (creation, reset, import): model/properties' creationTime. */
  modelCreatedAt?: number;
}

export interface RankResponse {
  ranking: { id: string; probability: number }[];
  eventId: string;
  rewardActionId: string;
}

const AGGREGATION_OUT: Record<string, string> = { first: 'earliest', sum: 'sum' };
const MODE_OUT = { online: 'Online', apprentice: 'Apprentice', logging: 'LoggingOnly' } as const;
const MODE_IN = { Online: 'online', Apprentice: 'apprentice', LoggingOnly: 'logging' } as const;
const AGGREGATION_IN: Record<string, 'first' | 'sum'> = { earliest: 'first', sum: 'sum' };

function invalid(code: string, message: string, target?: string): PersonalizerError {
  return new PersonalizerError(400, code, message, target);
}

/** A model configuration as PUT /models/{name} takes it back (every field kept). */
function asInput(config: ModelConfig): ModelConfigInput {
  return { ...config };
}

export class PersonalizerService {
  private creating: Promise<unknown> | undefined;

  constructor(
    readonly model: string,
    private readonly decisions: DecisionService,
    readonly db: Db,
    private readonly defaultRetentionMs: number,
    private readonly retention: LogRetention,
  ) {}

  // ---- the model behind the API ----

  /** The Personalizer model, created with Personalizer's defaults on first use. */
  async ensure(): Promise<ModelView> {
    if (!this.decisions.names().includes(this.model)) {
      this.creating ??= (async () => {
        const policy = parsePolicyArguments(DEFAULT_POLICY.arguments);
        await this.decisions.put(this.model, { ...policy, reward: DEFAULT_REWARD });
        this.saveSettings({ ...this.settings(), policy: { ...DEFAULT_POLICY, config: policy }, modelCreatedAt: Date.now() });
      })().finally(() => { this.creating = undefined; });
      await this.creating;
    }
    return this.decisions.view(this.model);
  }

  settings(): StoredSettings {
    const row = this.db.prepare('SELECT settings FROM personalizer_settings WHERE model = ?').get(this.model) as { settings: string } | undefined;
    const stored = row ? JSON.parse(row.settings) as Partial<StoredSettings> : {};
    return { modelExportFrequency: 'PT5M', logMirrorEnabled: false, isAutoOptimizationEnabled: false, modelRetrainDays: 0, explorationPercentage: 0.2, ...stored };
  }

  saveSettings(s: StoredSettings): void {
    this.db.prepare(`INSERT INTO personalizer_settings (model, settings, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (model) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at`).run(this.model, JSON.stringify(s), Date.now());
  }

  /** Reconfigures the model, keeping every field not given. */
  async reconfigure(change: Partial<ModelConfigInput>): Promise<ModelView> {
    const view = await this.ensure();
    return this.decisions.put(this.model, { ...asInput(view.config), ...change });
  }

  // ---- configurations/service ----

  async serviceConfiguration(): Promise<ServiceConfiguration> {
    const view = await this.ensure();
    const c = view.config;
    const s = this.settings();
    const strategy = c.strategy;
    const exploration = strategy.name === 'epsilon-greedy' ? strategy.epsilon : strategy.name === 'uniform' ? 1 : strategy.name === 'greedy' ? 0 : s.explorationPercentage;
    return {
      rewardWaitTime: formatTimeSpan(c.reward.waitSeconds),
      defaultReward: c.reward.default,
      rewardAggregation: AGGREGATION_OUT[c.reward.aggregation] ?? c.reward.aggregation,
      explorationPercentage: exploration,
      modelExportFrequency: s.modelExportFrequency,
      logMirrorEnabled: s.logMirrorEnabled,
      logRetentionDays: this.retentionDays(c),
      lastConfigurationEditDate: view.updatedAt,
      learningMode: MODE_OUT[learningMode(c)],
      isAutoOptimizationEnabled: s.isAutoOptimizationEnabled,
      ...(s.autoOptimizationFrequency !== undefined ? { autoOptimizationFrequency: s.autoOptimizationFrequency } : {}),
      ...(s.autoOptimizationStartDate !== undefined ? { autoOptimizationStartDate: s.autoOptimizationStartDate } : {}),
      modelRetrainDays: s.modelRetrainDays,
    };
  }

  private retentionDays(c: ModelConfig): number {
    const r = c.log?.retention;
    if (r === FOREVER) return -1;
    const ms = (r !== undefined ? parseDuration(r) : undefined) ?? this.defaultRetentionMs;
    return Math.ceil(ms / (DAY * 1000));
  }

  async updateServiceConfiguration(body: ServiceConfiguration): Promise<ServiceConfiguration> {
    const code = 'InvalidServiceConfiguration';
    const view = await this.ensure();
    const current = await this.serviceConfiguration();
    const wait = parseTimeSpan(body.rewardWaitTime);
    if (wait === undefined) throw invalid(code, `rewardWaitTime "${body.rewardWaitTime}" is not a duration (ISO 8601 such as PT10M, or hh:mm:ss such as 00:10:00)`, 'rewardWaitTime');
    if (wait < 5 || wait > 2 * DAY) throw invalid('InvalidRewardWaitTime', `rewardWaitTime must be between 5 seconds and 2 days, got ${body.rewardWaitTime}`, 'rewardWaitTime');
    const aggregation = AGGREGATION_IN[body.rewardAggregation.toLowerCase()];
    if (!aggregation) throw invalid(code, `rewardAggregation must be "earliest" or "sum", got "${body.rewardAggregation}"`, 'rewardAggregation');
    const exportEvery = parseTimeSpan(body.modelExportFrequency);
    if (exportEvery === undefined || exportEvery <= 0) throw invalid(code, `modelExportFrequency "${body.modelExportFrequency}" is not a positive duration`, 'modelExportFrequency');
    const autoEvery = body.autoOptimizationFrequency !== undefined ? parseTimeSpan(body.autoOptimizationFrequency) : undefined;
    if (body.autoOptimizationFrequency !== undefined && autoEvery === undefined) throw invalid(code, `autoOptimizationFrequency "${body.autoOptimizationFrequency}" is not a duration`, 'autoOptimizationFrequency');
    if (body.logMirrorEnabled) throw invalid(code, 'Log mirroring to Azure storage is not supported: export the log with GET /models/{name}/log?format=dsjson', 'logMirrorEnabled');
    if (body.isAutoOptimizationEnabled) throw invalid(code, 'Automatic optimization is not supported: run an evaluation and apply its best policy with configurations/applyFromEvaluation', 'isAutoOptimizationEnabled');
    const days = body.logRetentionDays;
    const minDays = Math.ceil(wait / DAY) + 1;
    if (days !== -1 && days < minDays) {
      throw invalid('InvalidLogRetentionDays', `logRetentionDays must be -1 (never delete) or at least the reward wait time plus one day, rounded up (${minDays}), got ${days}`, 'logRetentionDays');
    }
    const mode = body.learningMode ?? current.learningMode!;
    const rewardChanged = wait !== view.config.reward.waitSeconds || body.defaultReward !== view.config.reward.default || aggregation !== view.config.reward.aggregation;
    if (mode !== current.learningMode && rewardChanged) {
      throw invalid('InvalidLearningModeServiceConfiguration', 'Changing rewardWaitTime, defaultReward or rewardAggregation together with learningMode is not allowed: change the mode first, then the other settings');
    }
    const change: Partial<ModelConfigInput> = { reward: { waitSeconds: wait, default: body.defaultReward, aggregation } };
    // Online stays implicit on a model that never had a mode (Focal's GET then shows no `mode`).
    if (mode !== current.learningMode || view.config.mode !== undefined) change.mode = MODE_IN[mode];
    // Unchanged days keep the model's retention as it is (FOCAL_LOG_RETENTION's default when it has none).
    if (days !== current.logRetentionDays) change.log = { ...view.config.log, retention: days === -1 ? FOREVER : `${days}d` };
    if (body.explorationPercentage !== current.explorationPercentage) {
      const s = view.config.strategy;
      if (s.name !== 'epsilon-greedy') {
        throw invalid(code, `explorationPercentage sets ε of an epsilon-greedy policy, and the policy is ${s.name}: change it with configurations/policy`, 'explorationPercentage');
      }
      change.strategy = { ...s, epsilon: body.explorationPercentage };
    }
    await this.reconfigure(change);
    const s = this.settings();
    this.saveSettings({
      ...s,
      modelExportFrequency: formatTimeSpan(exportEvery),
      logMirrorEnabled: false,
      isAutoOptimizationEnabled: false,
      modelRetrainDays: body.modelRetrainDays ?? s.modelRetrainDays,
      explorationPercentage: body.explorationPercentage,
      ...(autoEvery !== undefined ? { autoOptimizationFrequency: formatTimeSpan(autoEvery) } : {}),
      ...(body.autoOptimizationStartDate !== undefined ? { autoOptimizationStartDate: new Date(body.autoOptimizationStartDate).toISOString() } : {}),
    });
    return this.serviceConfiguration();
  }

  // ---- configurations/policy ----

  async policy(): Promise<PolicyContract> {
    const view = await this.ensure();
    const stored = this.settings().policy;
    const config: BanditConfig = { strategy: view.config.strategy, learner: view.config.learner };
    if (stored && JSON.stringify(stored.config) === JSON.stringify(config)) return { name: stored.name, arguments: stored.arguments };
    // Reconfigured through Focal's own API since: the line that maps onto what runs.
    return { name: stored?.name ?? 'focal', arguments: formatPolicyArguments(config) };
  }

  /** The configuration a policy contract maps onto; a bad line is InvalidPolicyConfiguration naming the flag. */
  static configOf(contract: PolicyContract, target = 'arguments'): BanditConfig {
    try {
      return parsePolicyArguments(contract.arguments);
    } catch (err) {
      if (err instanceof PolicyArgumentError) throw new PersonalizerError(400, 'InvalidPolicyConfiguration', `${err.message}`, `${target}:${err.flag}`);
      throw err;
    }
  }

  async updatePolicy(contract: PolicyContract): Promise<PolicyContract> {
    await this.applyPolicy(contract, PersonalizerService.configOf(contract));
    return this.policy();
  }

  /** Runs `config` (what `contract` maps onto); new learned state when the strategy or learner changes, as Focal's PUT does. */
  async applyPolicy(contract: PolicyContract, config: BanditConfig): Promise<void> {
    const before = (await this.ensure()).config;
    await this.reconfigure(config);
    const after = this.decisions.view(this.model).config;
    const reset = JSON.stringify([before.strategy, before.learner]) !== JSON.stringify([after.strategy, after.learner]);
    this.saveSettings({ ...this.settings(), policy: { ...contract, config: { strategy: after.strategy, learner: after.learner } }, ...(reset ? { modelCreatedAt: Date.now() } : {}) });
  }

  resetPolicy(): Promise<PolicyContract> {
    return this.updatePolicy(DEFAULT_POLICY);
  }

  // ---- the model file ----

  /** GET /model: the learned state with its strategy and learner (model-file.ts). */
  async exportModel(): Promise<Buffer> {
    const view = await this.ensure();
    const { version, state } = this.decisions.learnedState(this.model);
    return writeModelFile({ strategy: view.config.strategy, learner: view.config.learner }, this.model, version, state);
  }

  /** PUT /model: the file's strategy, learner and learned state replace the model's (reward settings and the rest are kept). */
  async importModel(file: Buffer): Promise<void> {
    const { config, state } = readModelFile(file);
    const view = await this.ensure();
    await this.decisions.put(this.model, { ...asInput(view.config), ...config }, { state });
    this.saveSettings({ ...this.settings(), modelCreatedAt: Date.now() });
  }

  /** DELETE /model: fresh learned state, same settings. */
  async resetModel(): Promise<void> {
    const view = await this.ensure();
    await this.decisions.put(this.model, asInput(view.config), { forceReset: true });
    this.saveSettings({ ...this.settings(), modelCreatedAt: Date.now() });
  }

  // ---- model and log properties ----

  /** creationTime: when the learned state last started afresh; lastModifiedTime: its last change (a reward learned, a reconfiguration). */
  async modelProperties(): Promise<{ creationTime: string; lastModifiedTime: string }> {
    const view = await this.ensure();
    const created = this.settings().modelCreatedAt ?? Date.parse(view.createdAt);
    const learned = (this.db.prepare('SELECT MAX(received_at) AS t FROM rewards WHERE model = ? AND learn = 1').get(this.model) as { t: number | null }).t ?? 0;
    return { creationTime: new Date(created).toISOString(), lastModifiedTime: new Date(Math.max(created, Date.parse(view.updatedAt), learned)).toISOString() };
  }

  /**
   * DELETE /logs: deletes the model's logged events through log retention's own batches, so what replay needs is
   * kept (events whose reward window is open; rewards are snapshotted first) and a restart rebuilds the same model.
   */
  async deleteLogs(): Promise<number> {
    await this.ensure();
    return purgeLog(this.retention, this.model);
  }

  /** The time range of the logged events kept (404 LogsPropertiesNotFound while there are none). */
  async logProperties(): Promise<{ dateRange: { from: string; to: string } }> {
    await this.ensure();
    const r = this.db.prepare(`SELECT MIN(created_at) AS first, MAX(created_at) AS last FROM events WHERE model = ? AND kind = 'decision'`).get(this.model) as { first: number | null; last: number | null };
    if (r.first === null || r.last === null) throw new PersonalizerError(404, 'LogsPropertiesNotFound', 'No events are logged yet');
    return { dateRange: { from: new Date(r.first).toISOString(), to: new Date(r.last).toISOString() } };
  }

  // ---- rank and rewards ----

  async rank(body: RankRequest): Promise<RankResponse> {
    const code = 'InvalidRankRequest';
    await this.ensure();
    const actions = body.actions.map((a, i) => ({ id: a.id, features: mergeFeatures(a.features, `/actions/${i}/features`, code) }));
    const excluded = new Set(body.excludedActions ?? []);
    for (const id of excluded) {
      if (!actions.some((a) => a.id === id)) throw new PersonalizerError(400, code, `excludedActions names "${id}", which is not one of the actions`, '/excludedActions');
    }
    // Personalizer's baseline is the first action not excluded: Focal's default too.
    const d = await this.decisions.decide({
      model: this.model,
      context: mergeFeatures(body.contextFeatures, '/contextFeatures', code),
      actions,
      ...(excluded.size > 0 ? { excludedActions: [...excluded] } : {}),
      ...(body.eventId !== undefined ? { eventId: body.eventId } : {}),
      ...(body.deferActivation ? { defer: true } : {}),
    });
    return { ranking: d.ranking, eventId: d.eventId, rewardActionId: d.action };
  }

  /** Multi-slot rank: one distinct action per slot, in the slots' order (Focal's slots, each its own logged decision). */
  async multiSlotRank(body: MultiSlotRankRequest): Promise<{ slots: { id: string; rewardActionId: string }[]; eventId: string }> {
    const code = 'InvalidRankRequest';
    await this.ensure();
    const ids = new Set(body.actions.map((a) => a.id));
    for (const [i, slot] of body.slots.entries()) {
      if (!ids.has(slot.baselineAction)) throw new PersonalizerError(400, code, `slots/${i}: baselineAction "${slot.baselineAction}" is not one of the actions`, `/slots/${i}/baselineAction`);
      if (slot.excludedActions?.includes(slot.baselineAction)) throw new PersonalizerError(400, code, `slots/${i}: the baselineAction "${slot.baselineAction}" is excluded`, `/slots/${i}/excludedActions`);
    }
    const d = await this.decisions.decideSlots({
      model: this.model,
      context: mergeFeatures(body.contextFeatures, '/contextFeatures', code),
      actions: body.actions.map((a, i) => ({ id: a.id, features: mergeFeatures(a.features, `/actions/${i}/features`, code) })),
      slots: body.slots.map((slot, i) => ({
        id: slot.id, baseline: slot.baselineAction, features: mergeFeatures(slot.features, `/slots/${i}/features`, code),
        ...(slot.excludedActions?.length ? { excludedActions: slot.excludedActions } : {}),
      })),
      ...(body.eventId !== undefined ? { eventId: body.eventId } : {}),
      ...(body.deferActivation ? { defer: true } : {}),
    });
    return { slots: d.slots.map((s) => ({ id: s.id, rewardActionId: s.action })), eventId: d.eventId };
  }

  /** Multi-slot rewards, one per slot: each follows the rules of `reward` (ignored ones answered 204 too). */
  async multiSlotReward(eventId: string, rewards: MultiSlotRewardRequest['reward']): Promise<{ ignored: string[] }> {
    const results = await this.decisions.reward(rewards.map((r) => ({ eventId, slot: r.slotId, reward: r.value })),
      async () => ({ status: 404, body: { detail: `Event "${eventId}" is not a bandit decision` } }));
    const ignored: string[] = [];
    for (const [i, r] of results.entries()) {
      const slot = rewards[i]!.slotId;
      if (r.status === 200) continue;
      if (r.status === 409 || r.status === 410) {
        ignored.push(`${slot}: ${r.status === 409 ? 'already-rewarded' : 'window-closed'}`);
        continue;
      }
      const detail = typeof r.body.detail === 'string' ? r.body.detail : `Reward for slot "${slot}" of event "${eventId}" failed`;
      throw new PersonalizerError(r.status, r.status === 404 ? 'ResourceNotFound' : r.status === 400 ? 'InvalidRewardRequest' : 'BadRequest', detail, `reward/${i}`);
    }
    return { ignored };
  }

  /**
   * Activates a deferred event. Activating one that is active already (not deferred) is a no-op, as in
   * Personalizer; one whose reward wait time has passed is accepted and changes nothing (X-Focal-Activate says so).
   */
  async activate(eventId: string): Promise<{ ignored?: string }> {
    try {
      await this.decisions.activate(eventId);
      return {};
    } catch (err) {
      const status = (err as { status?: number }).status;
      if (status === 409) return { ignored: 'not-deferred' };
      if (status === 410) return { ignored: 'window-closed' };
      if (status === 404) throw new PersonalizerError(404, 'InvalidEventIdToActivate', `No event "${eventId}" to activate`, 'eventId');
      throw err;
    }
  }

  /**
   * A reward through Personalizer's API. Personalizer accepted a reward it would not use (a second one under
   * "earliest", one after the wait time) and dropped it: so does this (204), and says why in X-Focal-Reward.
   */
  async reward(eventId: string, value: number): Promise<{ ignored?: string }> {
    const [r] = await this.decisions.reward([{ eventId, reward: value }], async () => ({ status: 404, body: { detail: `Event "${eventId}" is not a bandit decision` } }));
    if (!r || r.status === 200) return {};
    if (r.status === 409) return { ignored: 'already-rewarded' };
    if (r.status === 410) return { ignored: 'window-closed' };
    const detail = typeof r.body.detail === 'string' ? r.body.detail : `Reward for event "${eventId}" failed`;
    if (r.status === 404) throw new PersonalizerError(404, 'ResourceNotFound', detail, 'eventId');
    throw new PersonalizerError(r.status, r.status === 400 ? 'InvalidRewardRequest' : 'BadRequest', detail);
  }
}
