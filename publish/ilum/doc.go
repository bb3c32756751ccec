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
// # What the seed's own client does (jupyterlab-pipelines 0.1.0)
//
// The seed's wheel on PyPI ships its Ilum client (ilum_native_client.py,
// handlers.py, cron_packager.py) and UI bundle. It shows what a client that
// ran against Ilum sends, not what the server requires; where it settles an
// open question, this client follows it:
//
//   - Authentication is optional: "Authorization: Bearer <token>" only when
//     a token is set ("Ilum 1.5+ supports API tokens"; anonymous access on
//     dev clusters). This client does the same.
//   - A Python single job's or schedule's jobClass is the module name of the
//     job file uploaded as pyFiles "<module>.py"; a group's is
//     "<module>.<Class>" (kind JOB, language PYTHON). This client does the
//     same (its module names may differ in detail; both match the file).
//   - The seed accepts only 5-field cron expressions for schedules.
//   - Tags come back as an object on newer Ilum and as a list of "k=v"
//     strings on older ones; this client reads both and a "k=v;..." string.
//   - DELETE /group needs the group ARCHIVED first (409 "Group has to be
//     archived before removing"); this client stops it first.
//   - UI pages are /workloads/details/{job,service,schedule}/<id>: a group
//     is a "service" in the UI. UIURL is a setting of its own, as the
//     seed's ilumUiUrl is.
//
// # UNCONFIRMED against a live Ilum (test against the target deployment)
//
//  1. Which deployments enforce authentication, and how a token is issued.
//  2. Whether the server accepts more than 5-field cron expressions (the
//     client passes the expression through unchanged).
//  3. The group's readiness before execute: the docs say the first request
//     can take seconds; execute is sent at once and the caller's context
//     bounds the wait (facts §3.3, §5 item 5).
//  4. Whether an empty field in PUT clears the setting (for example
//     pyRequirements after the last requirement is removed) or leaves it. The
//     client sends the empty field.
//  5. Whether PUT /group applies new jobConfig, pyRequirements and resources
//     to the running Spark jobs or only after a restart (the seed never
//     updates: it deletes and creates).
//  6. Whether DELETE is synchronous: the seed creates a group right after
//     deleting one of the same name, which suggests so.
//  7. How the server splits a jobConfig entry whose value contains "=" (the
//     client sends it as is; keys may not contain "=").
package ilum
