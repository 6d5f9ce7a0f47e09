package dev.waitroom.camunda;

import org.camunda.bpm.engine.rest.security.auth.ProcessEngineAuthenticationFilter;
import org.camunda.bpm.engine.rest.security.auth.impl.HttpBasicAuthenticationProvider;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;

import dev.waitroom.enginedev.DevAuth;

/**
 * Camunda 7.24 CE development engine: REST API only, in-memory H2, Spin JSON and XML.
 *
 * <p>The REST API is open unless the environment asks otherwise (see {@link DevAuth}):
 * {@code CAMUNDA_DEV_BASIC_AUTH=user:password} creates that user (through the starter's
 * admin-user support) and protects /engine-rest with Camunda's
 * {@link ProcessEngineAuthenticationFilter} (HTTP Basic); {@code CAMUNDA_DEV_BEARER_*} require
 * a valid JWT bearer token instead. Either way tests can check that a worker authenticates.
 * Authorization checks stay off: only authentication is enforced.
 */
@SpringBootApplication
@Import(DevAuth.class)
public class CamundaDevApplication {

  public static void main(String[] args) {
    SpringApplication app = new SpringApplication(CamundaDevApplication.class);
    app.setDefaultProperties(DevAuth.defaultProperties("camunda.bpm", System::getenv));
    app.run(args);
  }

  @Bean
  @ConditionalOnProperty(name = DevAuth.BASIC_AUTH_FLAG, havingValue = "true")
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
