package main

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/ingest/trailhealth"
)

// trailFlags are the trail health settings of `run`.
type trailFlags struct {
	trails         []string
	interval       time.Duration
	maxDeliveryAge time.Duration
}

func (f *trailFlags) add(c *cobra.Command) {
	fs := c.Flags()
	fs.StringSliceVar(&f.trails, "trails", nil, settingUsage("trails"))
	fs.DurationVar(&f.interval, "trail-check-interval", trailhealth.DefaultInterval, settingUsage("trail-check-interval"))
	fs.DurationVar(&f.maxDeliveryAge, "trail-max-delivery-age", trailhealth.DefaultMaxDeliveryAge, settingUsage("trail-max-delivery-age"))
}

func (f *trailFlags) validate() error {
	switch {
	case f.interval < time.Second:
		return usageErr("ROOTWATCH_TRAIL_CHECK_INTERVAL: %s is under 1s", f.interval)
	case f.maxDeliveryAge < 0:
		return usageErr("ROOTWATCH_TRAIL_MAX_DELIVERY_AGE: must not be negative (0 disables the check)")
	}
	for _, t := range f.trails {
		if err := trailhealth.ValidateTrail(t); err != nil {
			return usageErr("ROOTWATCH_TRAILS: %v", err)
		}
	}
	return nil
}

// start builds the trail health checker and starts it when trails are
// configured; the returned func stops it and waits for it.
func (f *trailFlags) start(ctx context.Context, awsCfg aws.Config, d trailhealth.Deliverer, reg prometheus.Registerer, log *zap.Logger) (func(), error) {
	if len(f.trails) == 0 {
		return func() {}, nil
	}
	maxAge := f.maxDeliveryAge
	if maxAge == 0 {
		maxAge = -1 // disabled
	}
	c, err := trailhealth.New(trailhealth.Config{
		API:            cloudtrail.NewFromConfig(awsCfg),
		Trails:         f.trails,
		Interval:       f.interval,
		MaxDeliveryAge: maxAge,
		Deliverer:      d,
		Logger:         log,
		Metrics:        trailhealth.NewMetrics(reg),
	})
	if err != nil {
		return nil, usageErr("ROOTWATCH_TRAILS: %v", err)
	}
	return c.Start(ctx), nil
}
