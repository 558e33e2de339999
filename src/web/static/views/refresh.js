// The Refresh button: asks Freshet to re-read one tenant now, then shows the
// job's progress from its `job` events (stage, counts, elapsed) and its
// summary, or says plainly why not (cooldown with the time left, timeout,
// permission, unknown tenant).
import { call } from "../api.js";
import { formatNumber, seconds } from "../format.js";

const $ = (id) => document.getElementById(id);

export class RefreshDialog {
  constructor() {
    this.dialog = $("refresh-dialog");
    this.jobId = null;
    this.poll = null;
    // Job events that arrive while the POST is still on its way (the job
    // starts, and may report pages, before its id reaches the page): the
    // newest of each job, replayed once the id is known, so no progress is lost.
    this.early = new Map();
    this.asking = false;
    this.dialog.addEventListener("close", () => {
      clearInterval(this.poll);
      this.jobId = null;
    });
  }

  async start(tenant) {
    this.show(`Refreshing ${tenant}`, "Asking Freshet…");
    $("refresh-progress").removeAttribute("value");  // indeterminate until counts arrive
    this.early.clear();
    this.asking = true;
    try {
      const { doc } = await call("/api/refresh", { method: "POST", body: { tenant } });
      this.asking = false;
      this.jobId = doc.job_id;
      $("refresh-stage").textContent = doc.joined ? "A refresh of this tenant was already running: following it." : "Started.";
      // The job's events drive the dialog; a slow poll covers a stream that is reconnecting.
      this.poll = setInterval(() => this.check(), 2000);
      const seen = this.early.get(this.jobId);
      this.early.clear();
      if (seen) this.onJob(seen);
    } catch (e) {
      this.asking = false;
      this.fail(e, tenant);
    }
  }

  show(title, stage) {
    $("refresh-title").textContent = title;
    $("refresh-stage").textContent = stage;
    $("refresh-counts").textContent = "";
    $("refresh-result").textContent = "";
    $("refresh-result").className = "";
    $("refresh-progress").hidden = false;
    if (!this.dialog.open) this.dialog.showModal();
  }

  fail(e, tenant) {
    $("refresh-progress").hidden = true;
    $("refresh-stage").textContent = "";
    let text;
    if (e.code === "refresh_cooldown") {
      const left = Number(e.response?.headers.get("Retry-After"));
      text = `${tenant} was refreshed moments ago. Try again in ${left > 0 ? seconds(left) : "a moment"}.`;
    } else if (e.status === 403) {
      text = `This token may not refresh ${tenant}: it needs the refresh scope for this tenant.`;
    } else if (e.status === 404) {
      text = `Freshet knows no tenant called ${tenant}.`;
    } else {
      text = e.message;
    }
    this.result(text, "error");
  }

  result(text, cls) {
    const r = $("refresh-result");
    r.textContent = text;
    r.className = cls;
    $("refresh-close").focus();
  }

  async check() {
    if (!this.jobId) return;
    try {
      const { doc } = await call(`/api/jobs/${encodeURIComponent(this.jobId)}`);
      this.onJob(doc);
    } catch {
      // The stream or the next poll will tell.
    }
  }

  // A `job` event, or the job as GET /api/jobs/{id} tells it.
  onJob(job) {
    if (this.asking && job.job_id) this.early.set(job.job_id, job);
    if (!this.jobId || job.job_id !== this.jobId || !this.dialog.open) return;
    const p = $("refresh-progress");
    if (job.total) {
      p.max = job.total;
      p.value = Math.min(job.records, job.total);
    }
    $("refresh-stage").textContent =
      job.status === "running" ? `Reading ${job.object ?? "records"}… (${job.stage})` : "";
    $("refresh-counts").textContent =
      `${formatNumber(job.records)}${job.total ? " of " + formatNumber(job.total) : ""} records, ` +
      `${job.pages} ${job.pages === 1 ? "page" : "pages"}, ${seconds(job.elapsed_seconds)}`;
    if (job.status === "running") return;
    clearInterval(this.poll);
    this.jobId = null;
    p.hidden = true;
    if (job.status === "succeeded") {
      const s = job.summary || {};
      const changed = (s.created || 0) + (s.updated || 0) + (s.deleted || 0);
      this.result(`Updated ${formatNumber(s.records ?? job.records)} records of ${job.tenant} in ${seconds(s.duration_seconds ?? job.elapsed_seconds)}: ` +
                  (changed ? `${s.created} new, ${s.updated} changed, ${s.deleted} removed.` : "nothing had changed."), "ok");
    } else if (job.status === "timed_out") {
      this.result(`The refresh of ${job.tenant} timed out after ${seconds(job.elapsed_seconds)}. ` +
                  "What was read is saved; the rest follows with the next sync.", "error");
    } else {
      this.result(`The refresh of ${job.tenant} failed: ${job.error || "the upstream did not answer"}.`, "error");
    }
  }
}
