package config

import (
	"bytes"
	"sort"

	"github.com/spf13/viper"

	camundawaitroom "github.com/camunda-waitroom/camunda-waitroom"
)

// Keys lists every scalar key of the embedded config.yaml in its documented spelling
// (camelCase, dots), sorted. Topic entries are a list and documented separately.
func Keys() []string {
	v := viper.New()
	v.SetConfigType("yaml")
	_ = v.ReadConfig(bytes.NewReader(camundawaitroom.DefaultConfigYAML))
	spell := map[string]string{}
	collectTags(spell, "", Config{})
	var out []string
	for _, k := range v.AllKeys() {
		if k == "topics" {
			continue
		}
		if s, ok := spell[k]; ok {
			k = s
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
