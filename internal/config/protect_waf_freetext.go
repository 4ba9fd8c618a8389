package config

// WAF free_text values.
const (
	WAFFreeTextScore = "score"
	WAFFreeTextOff   = "off"
)

// validateFreeText defaults protect.waf.free_text to score.
func (w *WAF) validateFreeText(add addFunc) {
	switch w.FreeText {
	case "":
		w.FreeText = WAFFreeTextScore
	case WAFFreeTextScore, WAFFreeTextOff:
	default:
		add(wafPath+".free_text", "%q is not one of score, off", w.FreeText)
	}
}
