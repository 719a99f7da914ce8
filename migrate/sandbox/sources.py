"""Where each emulated route's behaviour comes from: GitLab's `lib/api/*.rb` and `doc/api/*.md`,
Google's discovery method ids (the documents google-api-python-client ships), or the page that
documents an endpoint outside discovery. tests/sandbox/test_contracts.py checks that every route
has an entry, that Google method ids exist in the discovery documents with a matching path, and
checks response shapes against those sources — not against this emulator's code.

Keys are (METHOD, route pattern as registered); `/_sandbox/*` routes are the emulator's own.
"""

from __future__ import annotations

P = r"/api/v4/projects/(?P<pid>[^/]+)"
G = r"/api/v4/groups/(?P<gid>[^/]+)"
MR = P + r"/merge_requests/(?P<iid>\d+)"

GITLAB: dict[tuple[str, str], str] = {
    ("GET", r"/api/v4/version"): "lib/api/version.rb; doc/api/version.md",
    ("GET", r"/api/v4/metadata"): "lib/api/metadata.rb; doc/api/metadata.md",
    ("GET", r"/api/v4/templates/gitlab_ci_ymls"): "lib/api/templates.rb (Entities::TemplatesList); "
                                                   "doc/api/templates/gitlab_ci_ymls.md",
    ("GET", r"/api/v4/templates/gitlab_ci_ymls/(?P<key>[^?]+)"): "lib/api/templates.rb (Entities::Template: "
                                                                 "name, content); doc/api/templates/gitlab_ci_ymls.md",
    ("GET", r"/api/v4/user"): "lib/api/users.rb (GET /user, Entities::UserPublic); doc/api/users.md",
    ("GET", r"/api/v4/users"): "lib/api/users.rb; doc/api/users.md",
    ("GET", r"/api/v4/personal_access_tokens/self"):
        "lib/api/personal_access_tokens/self_information.rb; doc/api/personal_access_tokens.md",
    ("GET", r"/\.well-known/openid-configuration"):
        "doorkeeper-openid_connect discovery (config/initializers/doorkeeper_openid_connect.rb); "
        "doc/integration/openid_connect_provider.md",
    ("GET", r"/oauth/discovery/keys"): "doorkeeper-openid_connect keys; doc/ci/secrets/id_token_authentication.md",
    ("GET", r"/-/jwks"): "app/controllers/jwks_controller.rb",
    ("GET", r"/api/v4/groups"): "lib/api/groups.rb; doc/api/groups.md",
    ("GET", G): "lib/api/groups.rb; doc/api/groups.md#get-a-single-group",
    ("GET", G + r"/subgroups"): "lib/api/groups.rb; doc/api/groups.md#list-subgroups",
    ("GET", G + r"/descendant_groups"): "lib/api/groups.rb; doc/api/groups.md#list-descendant-groups",
    ("GET", G + r"/projects"): "lib/api/groups.rb; doc/api/groups.md#list-projects",
    ("GET", r"/api/v4/projects"): "lib/api/projects.rb; lib/api/helpers/pagination_strategies.rb; "
                                  "doc/api/projects.md; doc/api/rest/_index.md#pagination",
    ("GET", P): "lib/api/projects.rb (Entities::ProjectWithAccess); doc/api/projects.md",
    **{(m, r"/api/v4/admin/ci/variables" + tail): "lib/api/admin/ci/variables.rb; doc/api/instance_level_ci_variables.md"
       for m, tail in (("GET", ""), ("POST", ""), ("GET", r"/(?P<key>[^/]+)"), ("PUT", r"/(?P<key>[^/]+)"),
                       ("DELETE", r"/(?P<key>[^/]+)"))},
    **{(m, G + r"/variables" + tail): "lib/api/group_variables.rb; doc/api/group_level_variables.md"
       for m, tail in (("GET", ""), ("POST", ""), ("GET", r"/(?P<key>[^/]+)"), ("PUT", r"/(?P<key>[^/]+)"),
                       ("DELETE", r"/(?P<key>[^/]+)"))},
    **{(m, P + r"/variables" + tail): "lib/api/ci/variables.rb; doc/api/project_level_variables.md"
       for m, tail in (("GET", ""), ("POST", ""), ("GET", r"/(?P<key>[^/]+)"), ("PUT", r"/(?P<key>[^/]+)"),
                       ("DELETE", r"/(?P<key>[^/]+)"))},
    ("GET", P + r"/repository/files/(?P<path>[^/]+)"): "lib/api/files.rb; doc/api/repository_files.md",
    ("HEAD", P + r"/repository/files/(?P<path>[^/]+)"): "lib/api/files.rb; doc/api/repository_files.md",
    ("GET", P + r"/repository/files/(?P<path>[^/]+)/raw"): "lib/api/files.rb; doc/api/repository_files.md",
    ("GET", P + r"/repository/branches"): "lib/api/branches.rb (Entities::Branch); doc/api/branches.md",
    ("POST", P + r"/repository/branches"): "lib/api/branches.rb; doc/api/branches.md",
    ("GET", P + r"/repository/branches/(?P<branch>[^/]+)"): "lib/api/branches.rb; doc/api/branches.md",
    ("DELETE", P + r"/repository/branches/(?P<branch>[^/]+)"): "lib/api/branches.rb; doc/api/branches.md",
    ("POST", P + r"/repository/commits"): "lib/api/commits.rb; doc/api/commits.md#create-a-commit-with-multiple-files-and-actions",
    ("GET", P + r"/repository/commits"): "lib/api/commits.rb (Entities::Commit); doc/api/commits.md",
    ("GET", P + r"/repository/commits/(?P<sha>[^/]+)"): "lib/api/commits.rb (Entities::CommitDetail); doc/api/commits.md",
    ("POST", P + r"/repository/tags"): "lib/api/tags.rb; doc/api/tags.md",
    ("GET", P + r"/repository/tags"): "lib/api/tags.rb; doc/api/tags.md",
    ("POST", P + r"/merge_requests"): "lib/api/merge_requests.rb; doc/api/merge_requests.md",
    ("GET", P + r"/merge_requests"): "lib/api/merge_requests.rb; doc/api/merge_requests.md",
    ("GET", G + r"/merge_requests"): ("lib/api/merge_requests.rb (groups/:id/merge_requests: MergeRequestsFinder, "
                                      "include_subgroups); doc/api/merge_requests.md#list-group-merge-requests "
                                      "(non_archived, GitLab MR 23809)"),
    ("GET", MR): "lib/api/merge_requests.rb; doc/api/merge_requests.md",
    ("PUT", MR): "lib/api/merge_requests.rb; doc/api/merge_requests.md#update-mr",
    ("PUT", MR + r"/merge"): "lib/api/merge_requests.rb; doc/api/merge_requests.md#merge-a-merge-request",
    ("GET", MR + r"/notes"): "lib/api/notes.rb; doc/api/notes.md",
    ("POST", MR + r"/notes"): "lib/api/notes.rb; doc/api/notes.md",
    ("GET", MR + r"/pipelines"): "lib/api/merge_requests.rb; doc/api/merge_requests.md",
    ("POST", P + r"/ci/lint"): "lib/api/ci/lint.rb; doc/api/lint.md",
    ("GET", P + r"/ci/lint"): "lib/api/ci/lint.rb; doc/api/lint.md",
    ("POST", P + r"/pipeline"): "lib/api/ci/pipelines.rb; doc/api/pipelines.md#create-a-new-pipeline",
    ("GET", P + r"/pipelines"): "lib/api/ci/pipelines.rb (Entities::Ci::PipelineBasic); doc/api/pipelines.md",
    ("GET", P + r"/pipeline_schedules"): "lib/api/ci/pipeline_schedules.rb; doc/api/pipeline_schedules.md",
    ("GET", P + r"/pipeline_schedules/(?P<sid>\d+)"): "lib/api/ci/pipeline_schedules.rb; doc/api/pipeline_schedules.md",
    ("GET", P + r"/pipelines/latest"): "lib/api/ci/pipelines.rb; doc/api/pipelines.md",
    ("GET", P + r"/pipelines/(?P<plid>\d+)"): "lib/api/ci/pipelines.rb; doc/api/pipelines.md",
    ("GET", P + r"/pipelines/(?P<plid>\d+)/jobs"): "lib/api/ci/jobs.rb (Entities::Ci::Job); doc/api/jobs.md",
    ("GET", P + r"/jobs"): "lib/api/ci/jobs.rb; doc/api/jobs.md",
    ("GET", P + r"/jobs/(?P<jid>\d+)"): "lib/api/ci/jobs.rb; doc/api/jobs.md",
    ("GET", P + r"/jobs/(?P<jid>\d+)/trace"): "lib/api/ci/jobs.rb; doc/api/jobs.md#get-a-log-file",
    ("POST", P + r"/jobs/(?P<jid>\d+)/play"): "lib/api/ci/jobs.rb; doc/api/jobs.md#run-a-job",
}

SP = r"/v1/projects/(?P<project>[^/:]+)/serviceAccounts"
SA = SP + r"/(?P<sa>[^/:]+)"
POOLS = r"/v1/projects/(?P<project>[^/:]+)/locations/(?P<location>[^/:]+)/workloadIdentityPools"
POOL = POOLS + r"/(?P<pool>[^/:]+)"
PROV = POOL + r"/providers/(?P<provider>[^/:]+)"

# "discovery:API.VERSION:METHOD_ID" names a method of googleapiclient's bundled discovery document.
GOOGLE: dict[tuple[str, str], str] = {
    ("GET", SP): "discovery:iam.v1:iam.projects.serviceAccounts.list",
    ("GET", SA): "discovery:iam.v1:iam.projects.serviceAccounts.get",
    ("POST", SA + r":getIamPolicy"): "discovery:iam.v1:iam.projects.serviceAccounts.getIamPolicy",
    ("POST", SA + r":setIamPolicy"): "discovery:iam.v1:iam.projects.serviceAccounts.setIamPolicy",
    ("POST", SA + r":disable"): "discovery:iam.v1:iam.projects.serviceAccounts.disable",
    ("POST", SA + r":enable"): "discovery:iam.v1:iam.projects.serviceAccounts.enable",
    ("GET", SA + r"/keys"): "discovery:iam.v1:iam.projects.serviceAccounts.keys.list",
    ("GET", SA + r"/keys/(?P<key>[^/:]+)"): "discovery:iam.v1:iam.projects.serviceAccounts.keys.get",
    ("DELETE", SA + r"/keys/(?P<key>[^/:]+)"): "discovery:iam.v1:iam.projects.serviceAccounts.keys.delete",
    ("POST", SA + r"/keys/(?P<key>[^/:]+):disable"): "discovery:iam.v1:iam.projects.serviceAccounts.keys.disable",
    ("POST", SA + r"/keys/(?P<key>[^/:]+):enable"): "discovery:iam.v1:iam.projects.serviceAccounts.keys.enable",
    ("POST", POOLS): "discovery:iam.v1:iam.projects.locations.workloadIdentityPools.create",
    ("GET", POOLS): "discovery:iam.v1:iam.projects.locations.workloadIdentityPools.list",
    ("GET", POOL): "discovery:iam.v1:iam.projects.locations.workloadIdentityPools.get",
    ("PATCH", POOL): "discovery:iam.v1:iam.projects.locations.workloadIdentityPools.patch",
    ("DELETE", POOL): "discovery:iam.v1:iam.projects.locations.workloadIdentityPools.delete",
    ("POST", POOL + r":undelete"): "discovery:iam.v1:iam.projects.locations.workloadIdentityPools.undelete",
    ("GET", POOL + r"/operations/(?P<op>[^/:]+)"):
        "discovery:iam.v1:iam.projects.locations.workloadIdentityPools.operations.get",
    ("POST", POOL + r"/providers"): "discovery:iam.v1:iam.projects.locations.workloadIdentityPools.providers.create",
    ("GET", POOL + r"/providers"): "discovery:iam.v1:iam.projects.locations.workloadIdentityPools.providers.list",
    ("GET", PROV): "discovery:iam.v1:iam.projects.locations.workloadIdentityPools.providers.get",
    ("PATCH", PROV): "discovery:iam.v1:iam.projects.locations.workloadIdentityPools.providers.patch",
    ("DELETE", PROV): "discovery:iam.v1:iam.projects.locations.workloadIdentityPools.providers.delete",
    ("POST", PROV + r":undelete"): "discovery:iam.v1:iam.projects.locations.workloadIdentityPools.providers.undelete",
    ("GET", PROV + r"/operations/(?P<op>[^/:]+)"):
        "discovery:iam.v1:iam.projects.locations.workloadIdentityPools.providers.operations.get",
    ("POST", r"/token"): "developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests "
                         "(RFC 7523 jwt-bearer; not in discovery)",
    ("POST", r"/v1/token"): "discovery:sts.v1:sts.token",
    ("GET", r"/tokeninfo"): "oauth2.googleapis.com/tokeninfo: developers.google.com/identity/sign-in/web/"
                            "backend-auth#calling-the-tokeninfo-endpoint (not in discovery)",
    ("POST", r"/tokeninfo"): "oauth2.googleapis.com/tokeninfo: developers.google.com/identity/sign-in/web/"
                             "backend-auth#calling-the-tokeninfo-endpoint (not in discovery)",
    ("POST", SA + r":generateAccessToken"):
        "discovery:iamcredentials.v1:iamcredentials.projects.serviceAccounts.generateAccessToken",
    ("GET", r"/v3/projects/(?P<project>[^/:]+)"): "discovery:cloudresourcemanager.v3:cloudresourcemanager.projects.get",
    ("GET", r"/v3/projects:search"): "discovery:cloudresourcemanager.v3:cloudresourcemanager.projects.search",
    ("GET", r"/v3/projects"): "discovery:cloudresourcemanager.v3:cloudresourcemanager.projects.list",
    ("GET", r"/v1/projects/(?P<project>[^/:]+)/locations/(?P<location>[^/:]+)/activityTypes/(?P<type>[^/:]+)"
            r"/activities:query"): "discovery:policyanalyzer.v1:policyanalyzer.projects.locations.activityTypes."
                                   "activities.query",
}
