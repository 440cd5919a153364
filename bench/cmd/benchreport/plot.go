package main

import (
	"fmt"
	"image/color"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// series is one named sample of durations.
type series struct {
	Name    string
	Samples []time.Duration
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
	color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
}

// plotCDF draws the cumulative distribution of each series (x: time in
// milliseconds on a log scale, y: fraction of calls) and saves it as a PNG.
func plotCDF(path, title string, ss []series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "time to first token (ms, log scale)"
	p.Y.Label.Text = "fraction of calls"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	// Every curve ends at the top right, so the top left is free.
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.YOffs = vg.Points(-8)
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Add(plotter.NewGrid())
	drawn := 0
	for i, s := range ss {
		if len(s.Samples) == 0 {
			continue
		}
		xs := slices.Clone(s.Samples)
		slices.Sort(xs)
		pts := make(plotter.XYs, len(xs))
		for j, d := range xs {
			ms := float64(d) / float64(time.Millisecond)
			if ms < 0.01 {
				ms = 0.01 // the log scale cannot show zero
			}
			pts[j] = plotter.XY{X: ms, Y: float64(j+1) / float64(len(xs))}
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("plotting %s: %w", s.Name, err)
		}
		l.Color = palette[i%len(palette)]
		l.Width = vg.Points(1.5)
		if i >= len(palette) {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		p.Add(l)
		p.Legend.Add(s.Name, l)
		drawn++
	}
	if drawn == 0 {
		return fmt.Errorf("plotting %s: no samples", title)
	}
	p.Legend.Padding = vg.Points(2)
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}
