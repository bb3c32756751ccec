package trigger

import (
	"slices"
	"time"

	"github.com/nbpipe/nbpipe/convert"
	"github.com/nbpipe/nbpipe/internal/pipeline"
	"github.com/nbpipe/nbpipe/internal/push"
	"github.com/nbpipe/nbpipe/publish/airflow"
)

// Jobs turns a publishing run's report into the deployments its notebooks
// ask for: an Airflow job per DAG with trigger: true (when withAirflow), and
// the Ilum targets (when withIlum). Pure, so it is tested on its own.
func Jobs(forge push.Forge, rep *pipeline.Report, withAirflow, withIlum bool, now time.Time) []Job {
	var jobs []Job
	for _, nb := range rep.Notebooks {
		if nb.Error != "" || nb.Result == nil || nb.Result.Deploy == nil || len(nb.Files) != len(nb.Result.Files) {
			continue
		}
		d := nb.Result.Deploy
		cfg := d.Config
		base := Job{Forge: forge, Repo: rep.Repo, SourceCommit: rep.SourceCommit, Notebook: nb.Path,
			DagID: nb.DagID, TargetCommit: rep.TargetHead, PublishedAt: now, Conf: d.Params}
		for i, f := range nb.Result.Files {
			j := base
			j.File = nb.Files[i]
			j.NewFile = slices.Contains(rep.Created, j.File)
			switch f.Target {
			case convert.TargetAirflow:
				if !withAirflow || !cfg.Trigger {
					continue
				}
				j.Kind, j.Scheduled, j.Unpause, j.Trigger, j.Wait, j.Pools = Airflow, cfg.Schedule != nil, cfg.Unpause, true, cfg.Wait, d.Pools
				jobs = append(jobs, j)
			case convert.TargetPyFile, convert.TargetIlumService:
				if !withIlum {
					continue
				}
				j.Content, j.Cluster, j.Image, j.Requirements, j.Session, j.SparkConf = f.Content, cfg.ClusterID, cfg.SparkImage, nb.Result.Requirements, d.Session, cfg.SparkConf
				if f.Target == convert.TargetIlumService {
					j.Kind, j.Name = IlumService, cfg.ServiceName
					jobs = append(jobs, j)
					continue
				}
				if slices.Contains(cfg.Targets, convert.TargetIlumSingle) {
					single := j
					single.Kind, single.Name = IlumSingle, ""
					jobs = append(jobs, single)
				}
				if slices.Contains(cfg.Targets, convert.TargetIlumCron) {
					j.Kind, j.Name, j.Cron = IlumCron, cfg.ScheduleName, cfg.CronExpression
					jobs = append(jobs, j)
				}
			}
		}
	}
	return jobs
}

// AirflowAuth picks the one way to authenticate that is set, in the seed's
// order: a pre-issued token, a token minted with the api-server's
// jwt_secret, or a login.
func AirflowAuth(token, jwtSecret, jwtSubject, jwtRole, user, password string) airflow.Auth {
	switch {
	case token != "":
		return airflow.TokenAuth(token)
	case jwtSecret != "":
		return airflow.SecretAuth(jwtSecret, jwtSubject, jwtRole)
	default:
		return airflow.PasswordAuth(user, password)
	}
}
