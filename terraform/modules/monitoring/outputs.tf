output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Names of the alarms (empty when alarm_topic_arn is null)."
  value = concat(
    aws_cloudwatch_metric_alarm.api_5xx_rate[*].alarm_name,
    [for alarm in aws_cloudwatch_metric_alarm.function : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.custom : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.queue : alarm.alarm_name],
  )
}

output "metric_names" {
  description = "The custom metrics (EMF, namespace metrics_namespace) the dashboard shows."
  value       = local.custom_metrics
}
