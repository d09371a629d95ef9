# The sweeper runs on a schedule, not behind a route.
resource "aws_cloudwatch_event_rule" "sweeper" {
  name                = "${var.name}-sweeper"
  description         = "Runs the imagegen sweeper: finishes or times out jobs whose webhook never came"
  schedule_expression = "rate(${var.sweeper.interval_minutes} ${var.sweeper.interval_minutes == 1 ? "minute" : "minutes"})"
}

resource "aws_cloudwatch_event_target" "sweeper" {
  rule = aws_cloudwatch_event_rule.sweeper.name
  arn  = module.functions["sweeper"].arn
}

resource "aws_lambda_permission" "sweeper" {
  statement_id  = "AllowInvokeFromSweeperSchedule"
  action        = "lambda:InvokeFunction"
  function_name = module.functions["sweeper"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.sweeper.arn
}

