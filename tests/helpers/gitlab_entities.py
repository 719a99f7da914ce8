"""The fields GitLab's API answers, per entity, copied from gitlabhq/gitlabhq (the file named with
each set): one copy for every emulator contract test (test_gitlab_shapes, test_contracts)."""

from __future__ import annotations

USER_BASIC = {"id", "username", "name",  # lib/api/entities/user_safe.rb
              "state", "avatar_url", "web_url"}  # lib/api/entities/user_basic.rb
USER_PUBLIC = USER_BASIC | {"created_at", "bot", "public_email",  # lib/api/entities/user.rb
                            "email", "commit_email", "can_create_group", "can_create_project",
                            "two_factor_enabled"}  # lib/api/entities/user_public.rb
PAT = {"id", "name", "revoked", "created_at", "scopes", "user_id", "active",
       "expires_at"}  # lib/api/entities/personal_access_token.rb
VERSION = {"version", "revision"}  # lib/api/version.rb (its fallback hash)
METADATA = VERSION | {"kas", "enterprise"}  # lib/api/metadata.rb (15.2+; GET /version answers it too here)
TEMPLATES_LIST = {"key", "name"}  # lib/api/templates.rb: Entities::TemplatesList
TEMPLATE = {"name", "content"}  # lib/api/templates.rb: Entities::Template
# OpenID Connect Discovery 1.0 §3 REQUIRED provider metadata (GitLab serves it through
# doorkeeper-openid_connect; doc/integration/openid_connect_provider.md)
OIDC = {"issuer", "authorization_endpoint", "jwks_uri", "response_types_supported",
        "subject_types_supported", "id_token_signing_alg_values_supported"}
JWK = {"kty", "kid", "n", "e", "use", "alg"}  # RFC 7517 §4; app/controllers/jwks_controller.rb adds use, alg
NAMESPACE_BASIC = {"id", "name", "path", "kind", "full_path", "parent_id", "avatar_url",
                   "web_url"}  # lib/api/entities/namespace_basic.rb
PROJECT_IDENTITY = {"id", "description", "name", "name_with_namespace", "path", "path_with_namespace",
                    "created_at"}  # lib/api/entities/project_identity.rb
BASIC_PROJECT = PROJECT_IDENTITY | {"default_branch", "tag_list", "topics", "ssh_url_to_repo",
                                    "http_url_to_repo", "web_url", "readme_url", "forks_count", "avatar_url",
                                    "star_count", "last_activity_at",
                                    "namespace"}  # lib/api/entities/basic_project_details.rb
# lib/api/entities/project.rb, its unconditional exposures that exist from 14.7 to today
# (operations_access_level, build_coverage_regex were removed in 15.x/16.0 and are left out)
PROJECT = BASIC_PROJECT | {
    "_links", "packages_enabled", "empty_repo", "archived", "visibility", "resolve_outdated_diff_discussions",
    "issues_enabled", "merge_requests_enabled", "wiki_enabled", "jobs_enabled", "snippets_enabled",
    "container_registry_enabled", "service_desk_enabled", "can_create_merge_request_in",
    "issues_access_level", "repository_access_level", "merge_requests_access_level", "forking_access_level",
    "wiki_access_level", "builds_access_level", "snippets_access_level", "pages_access_level",
    "analytics_access_level", "container_registry_access_level", "emails_disabled",
    "shared_runners_enabled", "lfs_enabled", "creator_id", "import_status", "open_issues_count",
    "ci_default_git_depth", "ci_forward_deployment_enabled", "ci_job_token_scope_enabled", "public_jobs",
    "build_timeout", "auto_cancel_pending_pipelines", "ci_config_path", "shared_with_groups",
    "only_allow_merge_if_pipeline_succeeds", "allow_merge_on_skipped_pipeline",
    "restrict_user_defined_variables", "request_access_enabled",
    "only_allow_merge_if_all_discussions_are_resolved", "remove_source_branch_after_merge",
    "printing_merge_request_link_enabled", "merge_method", "squash_option", "suggestion_commit_message",
    "auto_devops_enabled", "auto_devops_deploy_strategy", "autoclose_referenced_issues",
    "keep_latest_artifact"}
PROJECT_WITH_ACCESS = PROJECT | {"permissions"}  # lib/api/entities/project_with_access.rb (GET /projects/:id)
# lib/api/entities/basic_group_details.rb + lib/api/entities/group.rb (fields present 14.7 to today;
# emails_enabled, archived, organization_id, math_* and shared_runners_setting are later additions)
GROUP = {"id", "web_url", "name", "path", "description", "visibility", "share_with_group_lock",
         "require_two_factor_authentication", "two_factor_grace_period", "project_creation_level",
         "auto_devops_enabled", "subgroup_creation_level", "emails_disabled", "mentions_disabled",
         "lfs_enabled", "default_branch_protection", "avatar_url", "request_access_enabled", "full_name",
         "full_path", "created_at", "parent_id"}
VARIABLE = {"variable_type", "key", "value", "hidden", "protected", "masked", "raw", "environment_scope",
            "description"}  # lib/api/entities/ci/variable.rb (hidden from 17.4)
INSTANCE_VARIABLE = VARIABLE - {"hidden", "environment_scope"}  # lib/api/admin/ci/variables.rb presents the same entity
# lib/api/files.rb `blob_data` (GET adds `content`; HEAD and /raw send it as X-Gitlab-* headers via
# lib/api/helpers/headers_helpers.rb `set_http_headers`)
BLOB_DATA = {"file_name", "file_path", "size", "encoding", "content_sha256", "ref", "blob_id", "commit_id",
             "last_commit_id", "execute_filemode"}
BLOB_HEADERS = {"X-Gitlab-" + k.replace("_", "-") for k in BLOB_DATA}
COMMIT = {"id", "short_id", "created_at", "parent_ids", "title", "message", "author_name", "author_email",
          "authored_date", "committer_name", "committer_email", "committed_date",
          "web_url"}  # lib/api/entities/commit.rb
COMMIT_DETAIL = COMMIT | {"stats", "status", "project_id", "last_pipeline"}  # lib/api/entities/commit_detail.rb
BRANCH = {"name", "commit", "merged", "protected", "developers_can_push", "developers_can_merge", "can_push",
          "default", "web_url"}  # lib/api/entities/branch.rb
TAG = {"name", "message", "target", "commit", "release", "protected"}  # lib/api/entities/tag.rb
MERGE_REQUEST_BASIC = {"id", "iid", "project_id", "title", "description", "state", "created_at",
                       "updated_at",  # lib/api/entities/issuable_entity.rb
                       "merged_by", "merged_at", "closed_by", "closed_at", "target_branch", "source_branch",
                       "user_notes_count", "upvotes", "downvotes", "assignee", "author", "assignees",
                       "source_project_id", "target_project_id", "labels", "milestone",
                       "merge_when_pipeline_succeeds", "merge_status", "sha", "merge_commit_sha",
                       "squash_commit_sha", "discussion_locked", "should_remove_source_branch",
                       "force_remove_source_branch", "reference", "references", "web_url", "time_stats",
                       "squash", "task_completion_status", "has_conflicts",
                       "blocking_discussions_resolved"}  # lib/api/entities/merge_request_basic.rb
MERGE_REQUEST = MERGE_REQUEST_BASIC | {"subscribed", "changes_count", "latest_build_started_at",
                                       "latest_build_finished_at", "first_deployed_to_production_at",
                                       "pipeline", "head_pipeline", "diff_refs", "merge_error",
                                       "user"}  # lib/api/entities/merge_request.rb
NOTE = {"id", "type", "body", "attachment", "author", "created_at", "updated_at", "system", "noteable_id",
        "noteable_type", "resolvable", "confidential", "noteable_iid",
        "commands_changes"}  # lib/api/entities/note.rb
LINT = {"valid", "errors", "warnings", "merged_yaml", "includes"}  # lib/api/entities/ci/lint/result.rb
PIPELINE_BASIC = {"id", "project_id", "sha", "ref", "status", "source", "created_at", "updated_at",
                  "web_url"}  # lib/api/entities/ci/pipeline_basic.rb
PIPELINE = PIPELINE_BASIC | {"before_sha", "tag", "yaml_errors", "user", "started_at", "finished_at",
                             "committed_at", "duration", "queued_duration", "coverage",
                             "detailed_status"}  # lib/api/entities/ci/pipeline.rb
SCHEDULE = {"id", "description", "ref", "cron", "cron_timezone", "next_run_at", "active", "created_at",
            "updated_at", "owner"}  # lib/api/entities/ci/pipeline_schedule.rb (inputs: 17.11+, not modelled)
# lib/api/entities/ci/pipeline_schedule_details.rb (doc/api/pipeline_schedules.md "Get a single pipeline schedule")
SCHEDULE_DETAILS = SCHEDULE | {"last_pipeline", "variables"}
JOB_BASIC = {"id", "status", "stage", "name", "ref", "tag", "coverage", "allow_failure", "created_at",
             "started_at", "finished_at", "erased_at", "duration", "queued_duration", "user", "commit",
             "pipeline", "web_url", "project"}  # lib/api/entities/ci/job_basic.rb
JOB = JOB_BASIC | {"artifacts", "runner", "runner_manager", "artifacts_expire_at", "archived",
                   "tag_list"}  # lib/api/entities/ci/job.rb
