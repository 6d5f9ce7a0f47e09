package dev.waitroom.camunda;

import java.util.HashMap;
import java.util.Map;

import org.camunda.bpm.engine.rest.security.auth.ProcessEngineAuthenticationFilter;
import org.camunda.bpm.engine.rest.security.auth.impl.HttpBasicAuthenticationProvider;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;

/**
 * Camunda 7.24 CE development engine: REST API only, in-memory H2, Spin JSON.
 *
 * <p>When the environment variable {@code CAMUNDA_DEV_BASIC_AUTH=user:password} is set, the
 * engine creates that user (through the starter's admin-user support) and protects
 * /engine-rest with Camunda's {@link ProcessEngineAuthenticationFilter} (HTTP Basic), so tests
 * can check that a worker authenticates. Authorization checks stay off: only authentication is
 * enforced.
 */
@SpringBootApplication
public class CamundaDevApplication {

  static final String BASIC_AUTH_ENV = "CAMUNDA_DEV_BASIC_AUTH";
  // Not "camunda-dev.basic-auth": Spring's relaxed binding would read CAMUNDA_DEV_BASIC_AUTH
  // itself (user:password) as that property, overriding this flag.
  static final String BASIC_AUTH_FLAG = "camunda-dev.rest-basic-auth-enabled";

  public static void main(String[] args) {
    SpringApplication app = new SpringApplication(CamundaDevApplication.class);
    app.setDefaultProperties(basicAuthProperties(System.getenv(BASIC_AUTH_ENV)));
    app.run(args);
  }

  static Map<String, Object> basicAuthProperties(String auth) {
    Map<String, Object> props = new HashMap<>();
    if (auth == null || auth.isEmpty()) {
      return props;
    }
    int colon = auth.indexOf(':');
    if (colon <= 0 || colon == auth.length() - 1) {
      throw new IllegalArgumentException(
          BASIC_AUTH_ENV + " must be 'user:password' with both parts non-empty");
    }
    props.put("camunda.bpm.admin-user.id", auth.substring(0, colon));
    props.put("camunda.bpm.admin-user.password", auth.substring(colon + 1));
    props.put(BASIC_AUTH_FLAG, "true");
    return props;
  }

  @Bean
  @ConditionalOnProperty(name = BASIC_AUTH_FLAG, havingValue = "true")
  FilterRegistrationBean<ProcessEngineAuthenticationFilter> engineRestBasicAuth(
      @Value("${spring.jersey.application-path:engine-rest}") String restPath) {
    String path = "/" + restPath.replaceAll("^/+|/+$", "");
    FilterRegistrationBean<ProcessEngineAuthenticationFilter> reg =
        new FilterRegistrationBean<>(new ProcessEngineAuthenticationFilter());
    reg.setName("camunda-engine-rest-basic-auth");
    reg.addInitParameter(
        ProcessEngineAuthenticationFilter.AUTHENTICATION_PROVIDER_PARAM,
        HttpBasicAuthenticationProvider.class.getName());
    reg.addUrlPatterns(path + "/*");
    return reg;
  }
}
