/**
 * Personalizer's offline evaluations as Focal evaluation jobs (src/evaluation): the contract's time range and
 * learning settings become a job's from/to and candidate configurations; its rows come back as Personalizer's
 * policy results (Online, Baseline, Random, Custom, OfflineExperimentation) with their summary fields.
 *
 * Summary fields from Focal's estimates over n rewarded events: ipsEstimatorDenominator = n,
 * ipsEstimatorNumerator = IPS × n, snipsEstimatorDenominator = Σw (mean importance weight × n), averageReward = IPS,
 * confidenceInterval = half the width of the 95 % bootstrap interval of IPS. Personalizer also sliced results into
 * 5-minute windows; Focal's replay gives one window, the evaluation's range (summary has one entry).
 */
import type { BanditConfig, LearnerConfig } from '../bandit/index.js';
import type { DecisionService } from '../decisions/decision-service.js';
import type { EvaluationService, EvaluationView } from '../evaluation/evaluation-service.js';
import type { Db } from '../store/database.js';
import { formatTimeSpan } from './durations.js';
import { PersonalizerError } from './errors.js';
import { PersonalizerService } from './personalizer-service.js';
import type { EvaluationContract } from './schemas.js';
import { formatPolicyArguments } from './vw-arguments.js';

type Source = 'Online' | 'Baseline' | 'Random' | 'Custom' | 'OfflineExperimentation';

interface StoredPolicy {
  /** Personalizer's name. */
  name: string;
  /** The Focal evaluation's row. */
  row: string;
  source: Source;
  arguments: string;
}

interface StoredContract {
  name: string;
  startTime: string;
  endTime: string;
  policies: StoredPolicy[];
}

interface Row {
  id: string;
  evaluation: string;
  contract: string;
  created_at: number;
}

export interface PolicyResultSummary {
  timeStamp: string;
  ipsEstimatorNumerator: number;
  ipsEstimatorDenominator: number;
  snipsEstimatorDenominator: number;
  aggregateTimeWindow: string;
  confidenceInterval: number;
  averageReward: number;
}

/** Learning rates × with/without interactions tried by enableOfflineExperimentation (Personalizer's "explore for better settings"). */
const EXPERIMENT_RATES = [0.1, 0.25, 1, 2];
/** Focal evaluates at most 16 candidates per job. */
const MAX_CANDIDATES = 16;

export class PersonalizerEvaluations {
  constructor(
    private readonly p: PersonalizerService,
    private readonly decisions: DecisionService,
    private readonly evaluations: EvaluationService,
    private readonly db: Db,
  ) {}

  /** Starts the Focal job for a contract; `id`: the client's (2022-09-01-preview), else the job's own. */
  async create(contract: EvaluationContract, id?: string): Promise<Record<string, unknown>> {
    const code = 'InvalidEvaluationContract';
    const view = await this.p.ensure();
    if (id !== undefined && this.row(id)) throw new PersonalizerError(409, 'EvaluationAlreadyExists', `Evaluation with id ${id} already exists`, 'evaluationId');
    const from = Date.parse(contract.startTime);
    const to = Date.parse(contract.endTime);
    if (!(from < to)) throw new PersonalizerError(400, code, 'startTime must be earlier than endTime', 'startTime');
    const names = new Set<string>();
    for (const policy of contract.policies) {
      if (names.has(policy.name)) throw new PersonalizerError(400, 'DuplicateCustomPolicyNames', `Custom policy names should be unique: "${policy.name}" is used twice`, 'policies');
      names.add(policy.name);
    }
    const logged = (this.db.prepare(`SELECT COUNT(*) AS n FROM events WHERE model = ? AND kind = 'decision' AND created_at >= ? AND created_at < ? AND reward IS NOT NULL`)
      .get(this.p.model, from, to) as { n: number }).n;
    if (logged === 0) throw new PersonalizerError(400, 'NoLogsExistInDateRange', `No rewarded events of the Personalizer model were logged between ${contract.startTime} and ${contract.endTime}`, 'startTime');

    const online: BanditConfig = { strategy: view.config.strategy, learner: view.config.learner };
    const policies: StoredPolicy[] = [
      { name: 'Online', row: 'online', source: 'Online', arguments: (await this.p.policy()).arguments },
      { name: 'Baseline', row: 'baseline', source: 'Baseline', arguments: '' },
      { name: 'Random', row: 'uniform', source: 'Random', arguments: formatPolicyArguments({ strategy: { name: 'uniform' }, learner: online.learner }) },
    ];
    const candidates: { name: string; config: BanditConfig }[] = [];
    for (const [i, policy] of contract.policies.entries()) {
      const config = PersonalizerService.configOf(policy, `policies/${i}/arguments`);
      candidates.push({ name: `custom-${i + 1}`, config });
      policies.push({ name: policy.name, row: `custom-${i + 1}`, source: 'Custom', arguments: policy.arguments });
    }
    if (contract.enableOfflineExperimentation ?? contract.enablePolicyOptimization) {
      for (const config of experiments(online)) {
        if (candidates.length >= MAX_CANDIDATES) break;
        const n = candidates.length + 1;
        candidates.push({ name: `experiment-${n}`, config });
        policies.push({ name: `Offline experiment ${n}`, row: `experiment-${n}`, source: 'OfflineExperimentation', arguments: formatPolicyArguments(config) });
      }
    }
    if (candidates.length > MAX_CANDIDATES) throw new PersonalizerError(400, code, `At most ${MAX_CANDIDATES} policies can be evaluated at once`, 'policies');
    const job = this.evaluations.create(this.p.model, {
      from: new Date(from).toISOString(), to: new Date(to).toISOString(),
      policies: candidates.map((c) => ({ name: c.name, config: c.config as never })), featureImportance: true,
    });
    const stored: StoredContract = { name: contract.name, startTime: new Date(from).toISOString(), endTime: new Date(to).toISOString(), policies };
    const key = id ?? job.id;
    this.db.prepare('INSERT INTO personalizer_evaluations (id, model, evaluation, contract, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(key, this.p.model, job.id, JSON.stringify(stored), Date.now());
    return this.get(key);
  }

  private row(id: string): Row | undefined {
    return this.db.prepare('SELECT id, evaluation, contract, created_at FROM personalizer_evaluations WHERE id = ? AND model = ?').get(id, this.p.model) as Row | undefined;
  }

  private job(row: Row): EvaluationView | undefined {
    try {
      return this.evaluations.get(this.p.model, row.evaluation);
    } catch {
      return undefined; // deleted through Focal's own API
    }
  }

  /** v1.1's Evaluation; `style: '2022'` gives 2022-09-01-preview's (statuses Succeeded/Running/Failed, results under `content`). */
  get(id: string, style: 'v1' | '2022' = 'v1'): Record<string, unknown> {
    const row = this.row(id);
    const job = row ? this.job(row) : undefined;
    if (!row || !job) throw new PersonalizerError(404, 'EvaluationNotFound', `No evaluation with id "${id}"`, 'evaluationId');
    return this.render(row, job, style);
  }

  list(style: 'v1' | '2022' = 'v1'): Record<string, unknown>[] {
    const rows = this.db.prepare('SELECT id, evaluation, contract, created_at FROM personalizer_evaluations WHERE model = ? ORDER BY created_at DESC, id').all(this.p.model) as Row[];
    return rows.flatMap((row) => {
      const job = this.job(row);
      return job ? [this.render(row, job, style, false)] : [];
    });
  }

  async delete(id: string): Promise<void> {
    const row = this.row(id);
    if (!row) throw new PersonalizerError(404, 'EvaluationNotFound', `No evaluation with id "${id}"`, 'evaluationId');
    if (this.job(row)) await this.evaluations.delete(this.p.model, row.evaluation);
    this.db.prepare('DELETE FROM personalizer_evaluations WHERE id = ?').run(id);
  }

  /** configurations/applyFromEvaluation: the named policy's settings become the model's (a new model, as Personalizer's). */
  async apply(evaluationId: string, policyName: string): Promise<void> {
    const row = this.row(evaluationId);
    const job = row ? this.job(row) : undefined;
    if (!row || !job) throw new PersonalizerError(404, 'EvaluationNotFound', `No evaluation with id "${evaluationId}"`, 'evaluationId');
    if (job.status !== 'completed') throw new PersonalizerError(409, 'OperationNotAllowed', `Evaluation "${evaluationId}" is ${job.status}: only a completed evaluation can be applied`, 'evaluationId');
    const contract = JSON.parse(row.contract) as StoredContract;
    const policy = contract.policies.find((p) => p.name === policyName);
    if (!policy) {
      throw new PersonalizerError(400, 'LearningSettingsNotFound', `Learning settings "${policyName}" are not in evaluation "${evaluationId}" (${contract.policies.map((p) => p.name).join(', ')})`, 'policyName');
    }
    if (policy.source === 'Baseline') throw new PersonalizerError(400, 'LearningSettingsNotFound', 'The Baseline row always plays the baseline action: it has no learning settings to apply', 'policyName');
    if (policy.source === 'Online') return; // already running
    const config = policy.source === 'Random' ? { strategy: { name: 'uniform' as const }, learner: this.decisions.view(this.p.model).config.learner }
      : this.evaluations.policyConfig(this.p.model, row.evaluation, policy.row) as BanditConfig;
    await this.p.applyPolicy({ name: policy.name, arguments: formatPolicyArguments(config) }, config);
  }

  private render(row: Row, job: EvaluationView, style: 'v1' | '2022', full = true): Record<string, unknown> {
    const contract = JSON.parse(row.contract) as StoredContract;
    const byRow = new Map(contract.policies.map((p) => [p.row, p]));
    const created = new Date(row.created_at).toISOString();
    const status = style === '2022'
      ? { pending: 'Running', running: 'Running', completed: 'Succeeded', failed: 'Failed' }[job.status]
      : { pending: 'pending', running: 'pending', completed: 'completed', failed: 'failed' }[job.status];
    const optimal = job.best ? byRow.get(job.best)?.name : undefined;
    const out: Record<string, unknown> = {
      id: row.id, name: contract.name, startTime: contract.startTime, endTime: contract.endTime,
      ...(style === 'v1' ? { jobId: job.id } : {}),
      status, evaluationType: 'Manual', creationTime: created,
      ...(optimal ? { optimalPolicy: optimal } : {}),
      ...(job.error ? { description: job.error } : {}),
    };
    if (!full || !job.policies) return out;
    const results = job.policies.flatMap((r): Record<string, unknown>[] => {
      const p = byRow.get(r.name);
      if (!p) return [];
      const n = r.events;
      const ips = r.estimates.ips;
      const total: PolicyResultSummary = {
        timeStamp: contract.endTime,
        ipsEstimatorNumerator: ips.value * n,
        ipsEstimatorDenominator: n,
        snipsEstimatorDenominator: r.meanWeight * n,
        aggregateTimeWindow: formatTimeSpan((Date.parse(contract.endTime) - Date.parse(contract.startTime)) / 1000),
        confidenceInterval: (ips.ci[1] - ips.ci[0]) / 2,
        averageReward: ips.value,
      };
      if (style === '2022') {
        return [{ name: p.name, arguments: p.arguments, policySource: p.source, summary: [{ timeStamp: contract.startTime, expectedReward: ips.value, confidenceInterval: ips.ci }] }];
      }
      return [{ name: p.name, arguments: p.arguments, policySource: p.source, summary: [{ ...total, timeStamp: contract.startTime }], totalSummary: total }];
    });
    const importance = job.featureImportance ?? [];
    const groups = [importance.filter((f) => f.ci[0] > 0), importance.filter((f) => !(f.ci[0] > 0))]
      .map((g) => [...g].sort((a, b) => b.importance - a.importance).map((f) => f.feature)).filter((g) => g.length > 0);
    if (style === '2022') {
      out.content = { startTime: contract.startTime, endTime: contract.endTime, intervalInMinutes: Math.round((Date.parse(contract.endTime) - Date.parse(contract.startTime)) / 60_000), value: results };
    } else {
      out.policyResults = results;
      if (groups.length) out.featureImportance = groups;
    }
    return out;
  }
}

/** The online configuration's learner at other learning rates, with and without context × action interactions. */
function experiments(online: BanditConfig): BanditConfig[] {
  if (online.learner.name !== 'linear') return [];
  const out: BanditConfig[] = [];
  for (const interactions of [[['context', 'action']], []]) {
    for (const learningRate of EXPERIMENT_RATES) {
      const learner: LearnerConfig = { ...online.learner, learningRate, interactions };
      out.push({ strategy: online.strategy, learner });
    }
  }
  return out;
}
