"""Security processors: detections over SecurityEvents (ECS). See sigma/ for the Sigma engine."""
