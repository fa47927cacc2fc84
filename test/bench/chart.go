package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
)

var (
	deploymentColor = color.RGBA{0x4c, 0x72, 0xb0, 0xff}
	stepwiseColor   = color.RGBA{0xdd, 0x84, 0x52, 0xff}
	timeoutColor    = color.RGBA{0xc4, 0x2e, 0x2e, 0xff}
	gridColor       = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
	inkColor        = color.RGBA{0x22, 0x22, 0x22, 0xff}
)

// Chart draws completion time per case, both controllers side by side, on a log scale, as a
// PNG. Cases are numbered as in the Markdown table; a red stub marks a timeout.
func (r *Report) Chart(w io.Writer) error {
	const (
		left, right, top, bottom = 70, 20, 60, 40
		bar, gap, height         = 10, 12, 300
	)
	width := left + right + max(len(r.Cases), 1)*(2*bar+gap)
	img := image.NewRGBA(image.Rect(0, 0, max(width, 520), top+height+bottom))
	fill(img, img.Bounds(), color.White)

	// Decades from 0.1 s up to the slowest case.
	slowest := 1.0
	for _, c := range r.Cases {
		slowest = max(slowest, c.Deployment.CompletionSeconds, c.Stepwise.CompletionSeconds)
	}
	lo, hi := -1.0, math.Ceil(math.Log10(slowest))
	y := func(seconds float64) int {
		v := math.Log10(max(seconds, 0.1))
		return top + height - int(float64(height)*(v-lo)/(hi-lo))
	}
	for d := lo; d <= hi; d++ {
		seconds := math.Pow(10, d)
		fill(img, image.Rect(left, y(seconds), width-right, y(seconds)+1), gridColor)
		label := fmt.Sprintf("%gS", seconds)
		text(img, left-8-textWidth(label), y(seconds)-7, label, inkColor)
	}
	text(img, left, 10, "COMPLETION TIME PER CASE (LOG SCALE)", inkColor)
	fill(img, image.Rect(left, 36, left+14, 50), deploymentColor)
	text(img, left+20, 36, "DEPLOYMENT", inkColor)
	fill(img, image.Rect(left+150, 36, left+164, 50), stepwiseColor)
	text(img, left+170, 36, "STEPWISE", inkColor)

	for i, c := range r.Cases {
		x := left + gap/2 + i*(2*bar+gap)
		for j, m := range []Measure{c.Deployment, c.Stepwise} {
			x0 := x + j*bar
			if m.TimedOut {
				fill(img, image.Rect(x0, top, x0+bar-1, top+8), timeoutColor)
				continue
			}
			col := deploymentColor
			if j == 1 {
				col = stepwiseColor
			}
			fill(img, image.Rect(x0, y(m.CompletionSeconds), x0+bar-1, top+height), col)
		}
		label := fmt.Sprint(i + 1)
		text(img, x+bar-textWidth(label)/2, top+height+8, label, inkColor)
	}
	fill(img, image.Rect(left, top+height, width-right, top+height+1), inkColor)
	return png.Encode(w, img)
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.Set(x, y, c)
		}
	}
}

// glyphs is a 5×7 bitmap font for the chart's few words and numbers, one row per string.
var glyphs = map[rune][7]string{
	'0': {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."},
	'1': {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'2': {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"},
	'3': {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."},
	'4': {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."},
	'5': {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."},
	'6': {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."},
	'7': {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."},
	'8': {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."},
	'9': {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."},
	'.': {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."},
	'(': {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."},
	')': {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."},
	'A': {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
	'C': {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."},
	'D': {"####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."},
	'E': {"#####", "#....", "#....", "####.", "#....", "#....", "#####"},
	'G': {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"},
	'I': {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'L': {"#....", "#....", "#....", "#....", "#....", "#....", "#####"},
	'M': {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"},
	'N': {"#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"},
	'O': {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'P': {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."},
	'R': {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"},
	'S': {".####", "#....", "#....", ".###.", "....#", "....#", "####."},
	'T': {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."},
	'U': {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'W': {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."},
	'Y': {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."},
}

// scale is the pixel size of one font dot.
const scale = 2

func textWidth(s string) int { return len(s) * 6 * scale }

// text draws s (upper case, digits and . ( ) only) with its top-left corner at x, y.
func text(img *image.RGBA, x, y int, s string, c color.Color) {
	for i, ch := range strings.ToUpper(s) {
		g, ok := glyphs[ch]
		if !ok {
			continue // a space, or a character the font lacks
		}
		for row, bits := range g {
			for col, bit := range bits {
				if bit == '#' {
					x0, y0 := x+(i*6+col)*scale, y+row*scale
					fill(img, image.Rect(x0, y0, x0+scale, y0+scale), c)
				}
			}
		}
	}
}
