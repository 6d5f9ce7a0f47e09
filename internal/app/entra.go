package app

// The worker daemon registers go-mssqldb's Entra ID (Azure AD) driver, "azuresql", so that
// store.params.fedauth works: repo/mssql opens a DSN with fedauth on it by name. The import
// lives here, not in repo/mssql, so that a front service importing the waitroom and the SQL
// Server store with SQL logins does not link the Azure SDK.
import _ "github.com/microsoft/go-mssqldb/azuread"
