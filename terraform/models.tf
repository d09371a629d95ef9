# The models each function enables, from the model catalog, and what invoking them needs in IAM.

locals {
  # The model catalog (one row per model: provider, id, where it runs, tasks, limits, price) and the
  # models each function enables, by catalog name (the catalog's defaults unless var.models names them).
  catalog = jsondecode(file("${path.module}/../src/imagegen/catalog.json"))
  models = {
    generate = coalesce(var.models.generate, local.catalog.defaults.generate)
    edit     = coalesce(var.models.edit, local.catalog.defaults.edit)
  }
  # The worker runs the queued jobs of every model the routes enable.
  worker_models  = distinct(flatten(values(local.models)))
  unknown_models = sort(distinct([for name in flatten(values(local.models)) : name if !contains(keys(local.catalog.models), name)]))
  retired_models = sort(distinct([for name in flatten(values(local.models)) : name if try(local.catalog.models[name].lifecycle, "active") != "active"]))
  # The Bedrock rows each function may invoke, by catalog name.
  bedrock_models = {
    for function, names in merge(local.models, { worker = local.worker_models }) : function => {
      for name in names : name => local.catalog.models[name] if try(local.catalog.models[name].provider, "") == "bedrock"
    }
  }
  # A row runs in its own region, whatever the stack's. An on-demand model is invoked by its
  # foundation-model ARN there; a model offered only through a cross-region inference profile is
  # invoked by the profile's ARN in that region and served by the foundation model in each region
  # the profile routes to, so the role needs all of them (AWS: "Prerequisites for inference profiles").
  bedrock_model_arns = {
    for function, rows in local.bedrock_models : function => distinct(flatten([
      for row in values(rows) : try(row.profile, null) == null ? ["arn:${local.partition}:bedrock:${row.region}::foundation-model/${row.id}"] : concat(
        ["arn:${local.partition}:bedrock:${row.region}:${local.account_id}:inference-profile/${row.profile}.${row.id}"],
        [for region in row.routes_to : "arn:${local.partition}:bedrock:${region}::foundation-model/${row.id}"],
      )
    ]))
  }
  # First use of a Marketplace model subscribes the account (Bedrock user guide, "Access Amazon Bedrock
  # foundation models"): Subscribe only ever on the enabled rows' product ids, and ViewSubscriptions.
  # A row whose product id AWS does not list gets no Subscribe right at all (an unconditioned one would
  # let the role subscribe the account to any Marketplace product): an administrator's one-time first
  # call subscribes the account to it (docs/models.md). Unsubscribe is not needed to invoke: never granted.
  marketplace_products = {
    for function, rows in local.bedrock_models : function => distinct(compact([for row in values(rows) : try(row.marketplace_product_id, null)]))
  }
  marketplace_statements = {
    for function, products in local.marketplace_products : function => !var.bedrock.marketplace_subscribe || length(products) == 0 ? [] : [
      {
        sid       = "SubscribeToBedrockMarketplaceModels"
        actions   = ["aws-marketplace:Subscribe"]
        resources = ["*"]
        conditions = [{
          test     = "ForAnyValue:StringEquals"
          variable = "aws-marketplace:ProductId"
          values   = products
        }]
      },
      {
        sid        = "SeeBedrockMarketplaceSubscriptions"
        actions    = ["aws-marketplace:ViewSubscriptions"]
        resources  = ["*"]
        conditions = []
      },
    ]
  }
  # What calling a function's models needs, written once: Bedrock on its models' ARNs, their Marketplace
  # subscription, and the SageMaker endpoint where one is named (generate and the worker; edits never use it).
  invoke_statements = {
    for function in ["generate", "edit", "worker"] : function => concat(
      length(local.bedrock_model_arns[function]) == 0 ? [] : [
        { sid = "InvokeBedrockModels", actions = ["bedrock:InvokeModel"], resources = local.bedrock_model_arns[function], conditions = [] },
      ],
      local.marketplace_statements[function],
      var.sagemaker.endpoint_name == "" || function == "edit" ? [] : [
        { sid = "InvokeSageMakerEndpoint", actions = ["sagemaker:InvokeEndpoint"], resources = [local.sagemaker_endpoint_arn], conditions = [] },
      ],
    )
  }
  sagemaker_endpoint_arn = "arn:${local.partition}:sagemaker:${local.region}:${local.account_id}:endpoint/${lower(var.sagemaker.endpoint_name)}"
}
