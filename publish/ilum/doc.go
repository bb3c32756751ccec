// Package ilum is nbpipe's client for the ilum-core REST API: it submits a
// notebook's Spark job file as a single job, keeps a notebook's service class
// deployed in a service group and executes it, and keeps a cron schedule of
// the job file in place.
//
// The client does not retry. Every error says which call failed, with the
// HTTP status and a short excerpt of the server's message, and never the
// token; Permanent tells the caller whether a retry can help.
//
// # Contract facts and their sources
//
// Source shorthand as in /work/shared/api-facts.md: "facts §n" is a section
// of that sheet; "spec" is ilum-doc:api/ilum-1.5.3.yaml (ilum-cloud/doc, the
// OpenAPI 3 spec, info.version 1.5.3); "seed" is the README of the
// jupyterlab-pipelines 0.1.0 extension (/work/shared/seed), which describes
// behaviour only.
//
//   - Base path /api/v1 on ilum-core port 9888; default cluster "default"
//     (facts §3.1). BaseURL may be given with or without /api/v1: the seed's
//     ilumApiUrl default is http://ilum-core:9888/api/v1.
//   - Error bodies are {"message": "..."} with 402 (license), 404 and 409
//     (validation or conflict) (facts §3.1; spec components/responses).
//   - Form fields are plain multipart text parts; lists inside a field are
//     ";"-separated (tags, jobConfig, args, pyRequirements) (facts §3.1).
//   - POST /job/submit, multipart: name and clusterName required; language
//     PYTHON; the job file as a binary "pyFiles" part; jobConfig
//     "spark.k=v;..."; args ";"-separated; pyRequirements "a==1;b==2";
//     executors, driverCores, executorCores, driverMemory, executorMemory as
//     strings; answer {"jobId"} (facts §3.2; spec jobCreation).
//   - POST /group, multipart: name, clusterName, kind (JOB), language, pyFiles,
//     jobConfig, pyRequirements, scale, autoPause, tags, description and the
//     resource fields; answer {"groupId"} (facts §3.3; spec groupCreation).
//   - GET /group/name/{groupName}: the group (groupInfo: id, name, state
//     ACTIVE|ARCHIVED, tags, description, ...) or 404 (facts §3.3; spec).
//   - PUT /group/{groupId}, multipart groupUpdate: description, tags,
//     jobConfig, pyRequirements, packages, scale, autoPause and the resource
//     fields. It has no name, clusterName, language or pyFiles: a group's
//     code cannot be replaced in place (spec groupUpdate; not in the facts
//     sheet).
//   - POST /group/{groupId}/stop (→ ARCHIVED) and DELETE /group/{groupId}
//     (facts §3.3; spec).
//   - POST /group/{groupId}/job/execute, JSON
//     {"type":"interactive_job_execute","jobClass":...,"jobConfig":{...}},
//     synchronous; answer {jobInstanceId, jobId, groupId, startTime, endTime,
//     jobClass, jobConfig, result, error:{message, stackTrace}} (facts §3.3).
//   - The service class is an IlumJob subclass; run(spark, config) gets the
//     jobConfig object as a dict (facts §3.5).
//   - POST /schedule, multipart: name, clusterName, cron and jobClass required;
//     language, pyFiles, jobConfig, args, pyRequirements, tags, description,
//     maxRetries and the resource fields; answer {"scheduleId"} (facts §3.4;
//     spec scheduleCreation).
//   - GET /schedule/name/{scheduleName}: the schedule (scheduleInfo: id, name,
//     cron, state ENABLED|DISABLED|PAUSED, ...) or 404 (facts §3.4; spec).
//   - PUT /schedule/{scheduleId}, multipart scheduleUpdate: description, tags,
//     jobConfig, cron, args, jobClass, pyRequirements, packages, maxRetries
//     and the resource fields; no pyFiles (spec scheduleUpdate; not in the
//     facts sheet). DELETE /schedule/{scheduleId}; POST
//     /schedule/{scheduleId}/pause and /stop (facts §3.4; spec).
//   - A single job's UI page is /workloads/details/job/<id> (seed, Mode 2).
//   - The job file spark/<dag_id>.py reads the run's parameters as
//     --name=value arguments; the service class reads them from config
//     (nbpipe's convert/templates/pyfile_main.py and ilum_run.py).
//
// # UNCONFIRMED against a live Ilum (test against the target deployment)
//
//  1. Authentication: whether /api/v1 needs credentials, and in which scheme.
//     The spec defines none (facts §3.1, §5 item 4). The client sends
//     "Authorization: Bearer <Token>" only when Token is set, as the seed's
//     optional ilumApiToken setting describes.
//  2. The jobClass of a Python single job or schedule: this client sends the
//     job file's module name with the file uploaded as pyFiles (facts §3.2,
//     §5 item 5). The module name is the file name without .py, made a
//     Python identifier (ModuleName), and the file part carries that name.
//  3. The jobClass of a Python IlumJob in a group: this client sends
//     "<module>.<Class>", the uploaded file's module name and the class name
//     (facts §3.5, §5 item 5).
//  4. The group's readiness before execute: the docs say the first request can
//     take seconds; execute is sent at once and the caller's context bounds
//     the wait (facts §3.3, §5 item 5).
//  5. The cron dialect of schedules (standard 5-field is likely); the client
//     passes the expression through unchanged (facts §3.4, §5 item 5).
//  6. Whether groupInfo and scheduleInfo echo tags, and as a "k=v;..." string
//     or a JSON object (the spec says type string with additionalProperties).
//     The client writes its fingerprints both as tags and in the description,
//     and reads whichever comes back; if neither does, it replaces the
//     group or schedule on every call (never duplicates it).
//  7. Whether an empty field in PUT clears the setting (for example
//     pyRequirements after the last requirement is removed) or leaves it. The
//     client sends the empty field.
//  8. Whether PUT /group applies new jobConfig, pyRequirements and resources
//     to the running Spark jobs or only after a restart.
//  9. Whether DELETE is synchronous: a create right after a delete could meet
//     the old name (409) if deletion is asynchronous.
//  10. Whether DELETE /group works on an ACTIVE group; the client stops it
//     first.
//  11. The UI pages of a group and of a schedule: this client links
//     /workloads/details/group/<id> and /workloads/details/schedule/<id> by
//     analogy with the job page. UIURL defaults to BaseURL without /api/v1,
//     which is ilum-core rather than the UI (the seed's ilumUiUrl is a
//     separate setting); set UIURL for working links.
//  12. How the server splits a jobConfig entry whose value contains "=" (the
//     client sends it as is; keys may not contain "=").
package ilum
