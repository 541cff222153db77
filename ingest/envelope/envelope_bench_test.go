package envelope

import "testing"

func BenchmarkParse(b *testing.B) {
	for _, file := range []string{"s3_put.json", "sns_s3.json", "cloudtrail_sns.json", "eventbridge_cloudtrail_api.json"} {
		body := readFixture(b, file)
		b.Run(file, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
